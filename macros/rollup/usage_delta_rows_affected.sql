{% macro usage_delta_rows_affected() -%}
    {{ return(adapter.dispatch('usage_delta_rows_affected', 'tally')()) }}
{%- endmacro %}

{% macro default__usage_delta_rows_affected() -%}
    {#- Spark's rollups overwrite partitions (usage_incremental_strategy): dbt's response stands. -#}
{%- endmacro %}

{% macro postgres__usage_delta_rows_affected() -%}
    {#-
        Post-hook of a rollup, in the model's transaction; renders no SQL. dbt runs the
        `usage_delta` strategy's statements as one and reports the rows of the last MERGE alone
        (one per pattern of NULLs in the nullable keys). On an incremental run this replaces the
        model's response (dbt's `main` statement: run_results.json, `tally rollup`'s "rows
        changed", the audit log, traces) with every row the run inserted, updated or deleted in
        the table, as PostgreSQL counts them in the transaction (pg_stat_xact_user_tables; where
        track_counts is turned off, which it is not by default, dbt's response stands).
    -#}
    {%- if execute and is_incremental() -%}
        {%- set counted -%}
            select n_tup_ins + n_tup_upd + n_tup_del
            from pg_stat_xact_user_tables
            where relid = '{{ this }}'::regclass and current_setting('track_counts')::boolean
        {%- endset -%}
        {%- set rows = run_query(counted).columns[0].values() -%}
        {%- if rows -%}
            {%- set changed = rows[0] | int -%}
            {%- do store_raw_result(
                'main', message='MERGE ' ~ changed, code='MERGE', rows_affected=changed) -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
