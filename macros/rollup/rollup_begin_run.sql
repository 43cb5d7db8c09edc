{% macro rollup_begin_run() -%}
    {{ return(adapter.dispatch('rollup_begin_run', 'tally')()) }}
{%- endmacro %}

{% macro postgres__rollup_begin_run() -%}
    {#-
        Fixes the upper bound of this run: the highest commit_seq of the load ledger, read under
        the advisory lock every load takes to get its commit_seq. A load holds that lock from
        taking its commit_seq until it commits, so every batch at or below the bound is visible
        to every model of this run, and a load that commits later is left for the next run.
    -#}
    begin;
    select pg_advisory_xact_lock({{ var('tally_load_commit_lock') }});
    create schema if not exists ops;
    create table if not exists ops.rollup_runs (
        invocation_id text primary key,
        upper_commit_seq bigint not null,
        started_at timestamptz not null default now()
    );
    create table if not exists ops.rollup_watermarks (
        model_name text primary key,
        applied_commit_seq bigint not null,
        invocation_id text,
        applied_at timestamptz
    );
    create table if not exists ops.rollup_applied_prices (
        model_name text not null,
        model_id text not null,
        effective_from timestamptz not null,
        effective_to timestamptz,
        input_usd_per_1m numeric not null,
        output_usd_per_1m numeric not null
    );
    create table if not exists ops.rollup_applied_timezones (
        model_name text not null,
        org_id text not null,
        timezone text not null,
        primary key (model_name, org_id)
    );
    insert into ops.rollup_runs (invocation_id, upper_commit_seq)
    select '{{ invocation_id }}', coalesce(max(commit_seq), 0)
    from {{ source('platform', 'load_batches') }}
    on conflict (invocation_id) do nothing;
    commit;
{%- endmacro %}
