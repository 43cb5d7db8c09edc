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

{% macro spark__rollup_begin_run() -%}
    {#-
        On Spark: the raw layer's views and the rollups' state tables, then this run's upper
        bound. `tally load` writes each raw table as a folder of parquet files and commits a
        batch by adding its row to the ledger (load_batches/); each view of schema raw reads
        only the files of loaded batches, so a load killed half-way is invisible. A batch's
        commit_seq is taken when it is registered, after its files are written: every batch at
        or below the bound read here is complete.
    -#}
    {%- if execute %}
    {%- set location = env_var('TALLY_SPARK_RAW_LOCATION') -%}
    {%- set ledger = "parquet.`" ~ location ~ "/load_batches`" -%}
    {%- for schema in ['raw', 'ops'] %}
    {%- do run_query('create database if not exists ' ~ schema) %}
    {%- endfor %}
    {%- for node in graph.sources.values() if node.package_name == 'tally' and node.source_name == 'platform' %}
    {%- set files = "parquet.`" ~ location ~ "/" ~ node.name ~ "`" -%}
    {%- if node.name == 'load_batches' %}
    {%- do run_query('create or replace view ' ~ source('platform', node.name) ~ ' as select * from ' ~ files) %}
    {%- else %}
    {%- do run_query('create or replace view ' ~ source('platform', node.name) ~ ' as select * from ' ~ files
                     ~ " where batch_id in (select batch_id from " ~ ledger ~ " where status = 'loaded')") %}
    {%- endif %}
    {%- endfor %}
    {%- do spark__rollup_state_tables() %}
    {%- endif %}
    insert into {{ source('rollup_state', 'rollup_runs') }}
    select '{{ invocation_id }}', coalesce(max(commit_seq), 0), current_timestamp()
    from {{ source('platform', 'load_batches') }}
{%- endmacro %}

{% macro spark__rollup_state_tables() -%}
    {#- The rollups' state on Spark (on PostgreSQL: migration 0013_rollup_state), each table but
        rollup_runs partitioned by model_name, so that a model replaces its own rows whole. -#}
    {%- set price_columns = [] -%}
    {%- for name in usage_price_columns() -%}
        {%- if name.endswith('_usd_per_1m') -%}
            {%- do price_columns.append(name ~ ' ' ~ engine_type('numeric')) -%}
        {%- elif name.endswith('min_input_tokens') -%}
            {%- do price_columns.append(name ~ ' bigint') -%}
        {%- elif name.startswith('effective_') -%}
            {%- do price_columns.append(name ~ ' timestamp') -%}
        {%- else -%}
            {%- do price_columns.append(name ~ ' string') -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set tables = {
        'rollup_runs': 'invocation_id string, upper_commit_seq bigint, started_at timestamp',
        'rollup_watermarks': 'applied_commit_seq bigint, invocation_id string, applied_at timestamp, model_name string',
        'rollup_applied_prices': price_columns | join(', ') ~ ', model_name string',
        'rollup_applied_timezones': 'org_id string, timezone string, model_name string',
    } -%}
    {%- for name, columns in tables.items() %}
    {%- do run_query('create table if not exists ' ~ source('rollup_state', name) ~ ' (' ~ columns ~ ') using parquet'
                     ~ ('' if name == 'rollup_runs' else ' partitioned by (model_name)')) %}
    {%- endfor %}
{%- endmacro %}
