-- Every loaded event's keys for the lookups raw.events cannot answer without reading itself in
-- full: by model and event time (a price edit), by organization (a time-zone change). raw.events
-- keeps no B-tree on them (one doubles the cost of a load, docs/decisions.md); this table gains
-- the rows of each run's new load batches, so its upkeep is proportional to what arrived.
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook=["{{ rollup_lock_watermark() }}"],
        post_hook=[
            "{{ rollup_record_state() }}",
            "{{ usage_event_lookup_indexes() }}",
        ],
    )
}}

{%- set batches_as_literals = is_incremental() and execute and target.type == 'postgres'
    and not model.get('tested_node_unique_id') %}
{%- if batches_as_literals %}
    {%- set new_batch_ids = usage_new_batch_ids(
        this.identifier, ref('stg_platform__load_batches'), invocation_id) or ['null'] %}
{%- endif %}

with

run_bounds as (

    {{ usage_run_bounds(this.identifier, invocation_id, is_incremental()) | indent(4) }}

),

new_batches as (

    select batch_id
    from {{ ref('stg_platform__load_batches') }}
    where
        commit_seq > (select run_bounds.applied_commit_seq from run_bounds)
        and commit_seq <= (select run_bounds.upper_commit_seq from run_bounds)

),

final as (

    select
        events.event_id,
        events.org_id,
        events.model_id,
        events.event_at
    from {{ ref('stg_platform__events') }} as events
    where
        events.batch_id in (select new_batches.batch_id from new_batches)
    {% if batches_as_literals %}
        -- the same batches as literals: the BRIN index on batch_id reads their pages alone
        and events.batch_id in ({{ new_batch_ids | join(', ') }})
    {% endif %}

)

select * from final
