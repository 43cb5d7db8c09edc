-- Assert that the rules `tally rollup` leaves to the database are in place (it leaves out the
-- data tests tagged database_enforced): on each rollup table the grain's valid unique index, the
-- contract's NOT NULL columns and its validated CHECK constraints; int_events_indexed's unique
-- event_id; rpt_usage_reconciliation's unique (org_id, usage_date); on the raw events, voids and
-- load batches their primary keys, the events' NOT NULL columns and validated CHECK constraint
-- (status, service tier, tokens) and the batches' unique commit_seq. A catalog lookup: it costs
-- the same at any table size.
with

rollups as (

    select
        cast('{{ ref("fct_usage_hourly") }}' as regclass) as table_oid,
        5 as grain_columns
    union all
    select
        cast('{{ ref("fct_usage_daily", v=1) }}' as regclass) as table_oid,
        5 as grain_columns
    union all
    select
        cast('{{ ref("fct_usage_daily", v=2) }}' as regclass) as table_oid,
        5 as grain_columns
    union all
    select
        cast('{{ ref("fct_usage_daily_by_model") }}' as regclass) as table_oid,
        3 as grain_columns

),

-- each table whose grain a unique index enforces, and the grain's width
uniquely_indexed as (

    select
        rollups.table_oid,
        rollups.grain_columns
    from rollups
    union all
    select
        cast('{{ ref("int_events_indexed") }}' as regclass) as table_oid,
        1 as grain_columns
    union all
    select
        cast('{{ ref("rpt_usage_reconciliation") }}' as regclass) as table_oid,
        2 as grain_columns

),

raw_keyed as (

    select cast('{{ source("platform", "events") }}' as regclass) as table_oid
    union all
    select cast('{{ source("platform", "voids") }}' as regclass) as table_oid
    union all
    select cast('{{ source("platform", "load_batches") }}' as regclass) as table_oid

),

raw_events_not_null as (

    select
        cast('{{ source("platform", "events") }}' as regclass) as table_oid,
        required.column_name
    from (
        values ('event_id'), ('org_id'), ('model_id'), ('event_time'), ('status')
    ) as required (column_name)

),

missing as (

    select
        uniquely_indexed.table_oid,
        'unique grain index' as missing_rule
    from uniquely_indexed
    where
        not exists (
            select
            from pg_catalog.pg_index as index_entries
            where
                index_entries.indrelid = uniquely_indexed.table_oid
                and index_entries.indisunique
                and index_entries.indisvalid
                and index_entries.indnkeyatts = uniquely_indexed.grain_columns
        )

    union all

    select
        rollups.table_oid,
        'check constraints (counts, tokens, cost)' as missing_rule
    from rollups
    where
        (
            select count(*) as validated_checks
            from pg_catalog.pg_constraint as table_constraints
            where
                table_constraints.conrelid = rollups.table_oid
                and table_constraints.contype = 'c'
                and table_constraints.convalidated
        ) < 2

    union all

    select
        rollups.table_oid,
        'not null ' || table_columns.attname as missing_rule
    from rollups
    inner join pg_catalog.pg_attribute as table_columns
        on rollups.table_oid = table_columns.attrelid
    where
        table_columns.attnum > 0
        and not table_columns.attisdropped
        and not table_columns.attnotnull
        and table_columns.attname not in ('user_id', 'api_key_id', 'cost_usd')

    union all

    select
        raw_keyed.table_oid,
        'primary key' as missing_rule
    from raw_keyed
    where
        not exists (
            select
            from pg_catalog.pg_constraint as table_constraints
            where
                table_constraints.conrelid = raw_keyed.table_oid
                and table_constraints.contype = 'p'
        )

    union all

    select
        raw_events_not_null.table_oid,
        'not null ' || raw_events_not_null.column_name as missing_rule
    from raw_events_not_null
    where
        not exists (
            select
            from pg_catalog.pg_attribute as table_columns
            where
                table_columns.attrelid = raw_events_not_null.table_oid
                and table_columns.attname = raw_events_not_null.column_name
                and table_columns.attnotnull
        )

    union all

    select
        cast('{{ source("platform", "events") }}' as regclass) as table_oid,
        'check constraint events_values_check' as missing_rule
    where
        not exists (
            select
            from pg_catalog.pg_constraint as table_constraints
            where
                table_constraints.conrelid = cast('{{ source("platform", "events") }}' as regclass)
                and table_constraints.conname = 'events_values_check'
                and table_constraints.convalidated
        )

    union all

    select
        cast('{{ source("platform", "load_batches") }}' as regclass) as table_oid,
        'unique commit_seq' as missing_rule
    where
        not exists (
            select
            from pg_catalog.pg_constraint as table_constraints
            where
                table_constraints.conrelid
                = cast('{{ source("platform", "load_batches") }}' as regclass)
                and table_constraints.contype = 'u'
                and pg_catalog.pg_get_constraintdef(table_constraints.oid)
                = 'UNIQUE (commit_seq)'
        )

)

select
    cast(table_oid as text) as table_name,
    missing_rule
from missing
