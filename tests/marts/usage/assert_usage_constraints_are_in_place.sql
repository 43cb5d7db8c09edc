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
        cast('{{ ref("fct_usage_daily", v=1) }}' as regclass),
        5
    union all
    select
        cast('{{ ref("fct_usage_daily", v=2) }}' as regclass),
        5
    union all
    select
        cast('{{ ref("fct_usage_daily_by_model") }}' as regclass),
        3

),

-- each table whose grain a unique index enforces, and the grain's width
uniquely_indexed as (

    select
        rollups.table_oid,
        rollups.grain_columns
    from rollups
    union all
    select
        cast('{{ ref("int_events_indexed") }}' as regclass),
        1
    union all
    select
        cast('{{ ref("rpt_usage_reconciliation") }}' as regclass),
        2

),

raw_keyed as (

    select cast('{{ source("platform", "events") }}' as regclass) as table_oid
    union all
    select cast('{{ source("platform", "voids") }}' as regclass)
    union all
    select cast('{{ source("platform", "load_batches") }}' as regclass)

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
        'unique grain index' as rule
    from uniquely_indexed
    where not exists (
        select
        from pg_catalog.pg_index as indexes
        where
            indexes.indrelid = uniquely_indexed.table_oid
            and indexes.indisunique
            and indexes.indisvalid
            and indexes.indnkeyatts = uniquely_indexed.grain_columns
    )

    union all

    select
        rollups.table_oid,
        'check constraints (counts, tokens, cost)' as rule
    from rollups
    where (
        select count(*)
        from pg_catalog.pg_constraint as constraints
        where
            constraints.conrelid = rollups.table_oid
            and constraints.contype = 'c'
            and constraints.convalidated
    ) < 2

    union all

    select
        rollups.table_oid,
        'not null ' || columns.attname as rule
    from rollups
    inner join pg_catalog.pg_attribute as columns
        on columns.attrelid = rollups.table_oid
    where
        columns.attnum > 0
        and not columns.attisdropped
        and not columns.attnotnull
        and columns.attname not in ('user_id', 'api_key_id', 'cost_usd')

    union all

    select
        raw_keyed.table_oid,
        'primary key' as rule
    from raw_keyed
    where not exists (
        select
        from pg_catalog.pg_constraint as constraints
        where constraints.conrelid = raw_keyed.table_oid and constraints.contype = 'p'
    )

    union all

    select
        raw_events_not_null.table_oid,
        'not null ' || raw_events_not_null.column_name as rule
    from raw_events_not_null
    where not exists (
        select
        from pg_catalog.pg_attribute as columns
        where
            columns.attrelid = raw_events_not_null.table_oid
            and columns.attname = raw_events_not_null.column_name
            and columns.attnotnull
    )

    union all

    select
        cast('{{ source("platform", "events") }}' as regclass) as table_oid,
        'check constraint events_values_check' as rule
    where not exists (
        select
        from pg_catalog.pg_constraint as constraints
        where
            constraints.conrelid = cast('{{ source("platform", "events") }}' as regclass)
            and constraints.conname = 'events_values_check'
            and constraints.convalidated
    )

    union all

    select
        cast('{{ source("platform", "load_batches") }}' as regclass) as table_oid,
        'unique commit_seq' as rule
    where not exists (
        select
        from pg_catalog.pg_constraint as constraints
        where
            constraints.conrelid = cast('{{ source("platform", "load_batches") }}' as regclass)
            and constraints.contype = 'u'
            and pg_catalog.pg_get_constraintdef(constraints.oid) = 'UNIQUE (commit_seq)'
    )

)

select
    cast(table_oid as text) as table_name,
    rule
from missing
