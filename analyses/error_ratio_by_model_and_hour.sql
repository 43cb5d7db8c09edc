-- The share of failed requests per model and UTC hour over the last days (default 2), to spot
-- a model that started failing. Compile with --vars '{lookback_hours: 168}' for a week.
with

usage_hourly as (

    select * from {{ ref('fct_usage_hourly') }}

),

recent_usage as (

    select *

    from usage_hourly
    where
        usage_hour
        >= date_trunc('hour', current_timestamp at time zone 'UTC') at time zone 'UTC'
        - interval '{{ var("lookback_hours", 48) }} hours'

),

final as (

    select
        model_id,
        usage_hour,
        sum(request_count) as request_count,
        sum(error_count) as error_count,
        round(sum(error_count) / cast(sum(request_count) as numeric), 4) as error_ratio

    from recent_usage
    group by model_id, usage_hour

)

select * from final
order by model_id, usage_hour
