with

events as (

    select * from {{ source('platform', 'events') }}

),

final as (

    select
        event_id,
        org_id,
        user_id,
        api_key_id,
        model_id,
        event_time as event_at,
        input_tokens,
        output_tokens,
        input_tokens + output_tokens as total_tokens,
        -- the breakdowns and the tier are optional: absent = 0 and standard
        coalesce(cache_read_input_tokens, 0) as cache_read_input_tokens,
        coalesce(cache_write_input_tokens, 0) as cache_write_input_tokens,
        coalesce(reasoning_tokens, 0) as reasoning_tokens,
        coalesce(service_tier, 'standard') as service_tier,
        status,
        status = 'success' as is_success,
        latency_ms,
        batch_id,
        loaded_at

    from events

)

select * from final
