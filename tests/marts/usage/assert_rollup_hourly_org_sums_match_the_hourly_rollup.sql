-- ops.rollup_hourly_org_sums, which an incremental reconciliation reads for the hourly rollup
-- (macros/rollup/usage_hourly_org_sums.sql), holds fct_usage_hourly's sums per organization and
-- UTC hour, with no pair on one side only. Reads both in full: `tally verify` and a plain `dbt
-- build` run it, not `tally rollup`. PostgreSQL only, as the sums.
{{ config(tags=['whole_table'], enabled=target.type != 'spark') }}

with

kept as (

    select * from {{ usage_hourly_org_sums_relation() }}

),

summed as (

    {{ usage_hourly_org_sums_select(ref('fct_usage_hourly')) | indent(4) }}

),

final as (

    select
        coalesce(kept.usage_hour, summed.usage_hour) as usage_hour,
        coalesce(kept.org_id, summed.org_id) as org_id,
        kept.request_count as kept_request_count,
        summed.request_count as summed_request_count
    from kept
    full outer join summed
        on
            kept.usage_hour = summed.usage_hour
            and kept.org_id = summed.org_id
    -- the whole rows, every measure included (the table was created from the same select)
    where kept is distinct from summed

)

select * from final
