{% macro rollup_begin_run() -%}
    {{ return(adapter.dispatch('rollup_begin_run', 'tally')()) }}
{%- endmacro %}

{% macro postgres__rollup_begin_run() -%}
    {#-
        Fixes the upper bound of this run: the highest commit_seq of the load ledger, read under
        the advisory lock every load takes to get its commit_seq. A load holds that lock from
        taking its commit_seq until it commits, so every batch at or below the bound is visible
        to every model of this run, and a load that commits later is left for the next run.
        The state tables are created by the CLI's migrations (0013_rollup_state).
    -#}
    begin;
    select pg_advisory_xact_lock({{ var('tally_load_commit_lock') }});
    insert into {{ source('rollup_state', 'rollup_runs') }} (invocation_id, upper_commit_seq, lower_commit_seq)
    select
        '{{ invocation_id }}',
        coalesce(max(commit_seq), 0),
        {%- if flags.FULL_REFRESH %}
        0
        {%- else %}
        coalesce((select min(applied_commit_seq) from {{ source('rollup_state', 'rollup_watermarks') }}), 0)
        {%- endif %}
    from {{ source('platform', 'load_batches') }}
    on conflict (invocation_id) do nothing;
    commit;
{%- endmacro %}
