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
        status,
        status = 'success' as is_success,
        latency_ms,
        batch_id,
        loaded_at

    from events

)

select * from final
