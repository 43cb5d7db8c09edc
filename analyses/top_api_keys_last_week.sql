-- The 10 most expensive API keys of last week: the previous full ISO week (Monday to Sunday)
-- in UTC, as of when the query runs.
with

usage_hourly as (

    select * from {{ ref('fct_usage_hourly') }}

),

api_keys as (

    select * from {{ ref('dim_api_keys') }}

),

last_week as (

    select
        date_trunc('week', current_timestamp at time zone 'UTC')
        - interval '7 days' as first_hour_utc,
        date_trunc('week', current_timestamp at time zone 'UTC') as end_hour_utc

),

usage_last_week as (

    select usage_hourly.*

    from usage_hourly
    cross join last_week
    where
        usage_hourly.api_key_id is not null
        and usage_hourly.usage_hour >= last_week.first_hour_utc at time zone 'UTC'
        and usage_hourly.usage_hour < last_week.end_hour_utc at time zone 'UTC'

),

cost_by_key as (

    select
        api_key_id,
        org_id,
        sum(request_count) as request_count,
        sum(total_tokens) as total_tokens,
        sum(cost_usd) as cost_usd,
        count(*) filter (where cost_usd is null) as unpriced_row_count

    from usage_last_week
    group by api_key_id, org_id

),

final as (

    select
        cost_by_key.api_key_id,
        api_keys.key_prefix,
        cost_by_key.org_id,
        api_keys.user_id,
        api_keys.is_active,
        cost_by_key.request_count,
        cost_by_key.total_tokens,
        cost_by_key.cost_usd,
        cost_by_key.unpriced_row_count

    from cost_by_key
    left join api_keys
        on cost_by_key.api_key_id = api_keys.api_key_id

)

select * from final
order by cost_usd desc nulls last, api_key_id asc
limit 10
