with

events as (

    select * from {{ ref('stg_platform__events') }}

),

final as (

    select
        {{ dbt.date_trunc('hour', 'event_at') }} as usage_hour,
        org_id,
        user_id,
        api_key_id,
        model_id,
        count(*) as request_count,
        count(case when is_success then 1 end) as success_count,
        count(case when not is_success then 1 end) as error_count,
        sum(input_tokens) as input_tokens,
        sum(output_tokens) as output_tokens,
        sum(total_tokens) as total_tokens

    from events
    group by 1, 2, 3, 4, 5

)

select * from final
