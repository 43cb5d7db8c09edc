with

audit_events as (

    select * from {{ source('platform', 'audit_events') }}

),

final as (

    select
        audit_event_id,
        org_id,
        actor_user_id,
        action,
        target_type,
        target_id,
        cast(metadata as jsonb) as metadata,
        occurred_at,
        batch_id,
        record_number,
        loaded_at

    from audit_events

)

select * from final
