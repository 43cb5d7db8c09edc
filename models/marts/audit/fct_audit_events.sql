{{
    config(
        materialized='incremental',
        unique_key='audit_event_id',
        on_schema_change='fail',
    )
}}

-- Watermark: the highest commit_seq of a load batch already in the table. Loads take their
-- commit_seq in commit order (cli/tally/load/batch.py), so every batch at or below it is here
-- and an incremental run adds the entries of the batches committed since.

with

audit_events as (

    select * from {{ ref('stg_platform__audit_events') }}

),

load_batches as (

    select * from {{ ref('stg_platform__load_batches') }}

),

committed as (

    select
        audit_events.*,
        load_batches.commit_seq

    from audit_events
    inner join load_batches
        on audit_events.batch_id = load_batches.batch_id
    where load_batches.commit_seq is not null
    {% if is_incremental() %}
        and load_batches.commit_seq > (select coalesce(max(commit_seq), 0) from {{ this }})
    {% endif %}

),

final as (

    select
        audit_event_id,
        org_id,
        actor_user_id,
        action,
        target_type,
        target_id,
        {{ hash_json_values('metadata', var('tally_audit_personal_keys')) }} as metadata,
        occurred_at,
        commit_seq

    from committed

)

select * from final
