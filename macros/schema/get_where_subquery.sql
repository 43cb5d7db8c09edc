{% macro default__get_where_subquery(relation) -%}
    {#-
        dbt's `where` config of a data test, with placeholders that make a test cover what a
        `tally rollup` changed, and the whole table everywhere else (a plain `dbt build`, `dbt
        test`, `tally verify`). `tally rollup` sets TALLY_TEST_SCOPE=run.

        __batches_of_this_run__: the rows of the load batches this run rolls up (commit_seq
        above the rollups' lowest watermark at the run's start, up to its upper bound).
        __reconciled_by_this_run__: the rows of rpt_usage_reconciliation this run wrote.
    -#}
    {%- set where = config.get('where', '') -%}
    {%- if not where -%}
        {%- do return(relation) -%}
    {%- endif -%}
    {%- set in_run = env_var('TALLY_TEST_SCOPE', 'all') == 'run' -%}
    {%- set where = where
        | replace('__batches_of_this_run__', tally_batches_of_this_run() if in_run else 'true')
        | replace('__reconciled_by_this_run__',
                  "reconciled_by_invocation_id = '" ~ invocation_id ~ "'" if in_run else 'true') -%}
    {%- set filtered -%}
        (select * from {{ relation }} where {{ where }}) dbt_subquery
    {%- endset -%}
    {%- do return(filtered) -%}
{%- endmacro %}


{% macro tally_batches_of_this_run() -%}
    {#-
        The run's batch ids as literals, read when the test runs (the run's bounds are written
        by on-run-start): with a subquery instead, PostgreSQL plans for an unknown list and scans
        the whole table, which grows with history; with literals it reads the new batches'
        pages through the BRIN index on batch_id, and nothing at all when there are none.
    -#}
    {%- if not execute -%}
        {%- do return('false') -%}
    {%- endif -%}
    {%- set found -%}
        select coalesce(string_agg(load_batches.batch_id::text, ', ' order by load_batches.batch_id), '')
        from {{ source('platform', 'load_batches') }} as load_batches
        inner join {{ source('rollup_state', 'rollup_runs') }} as this_run
            on
                load_batches.commit_seq > this_run.lower_commit_seq
                and load_batches.commit_seq <= this_run.upper_commit_seq
        where this_run.invocation_id = '{{ invocation_id }}'
    {%- endset -%}
    {%- set batch_ids = run_query(found).columns[0].values()[0] -%}
    {%- do return('batch_id in (' ~ batch_ids ~ ')' if batch_ids else 'false') -%}
{%- endmacro %}
