-- The usage rollups' bookkeeping (macros/rollup/, the `rollup_state` source): what each rollup
-- table reflects, written by the models' hooks in the same transaction as the table. `if not
-- exists`: databases built before this migration have them from the rollup's on-run-start hook.
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
