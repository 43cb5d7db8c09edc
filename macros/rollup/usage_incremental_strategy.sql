{% macro usage_incremental_strategy() -%}
    {{ return(adapter.dispatch('usage_incremental_strategy', 'tally')()) }}
{%- endmacro %}

{% macro default__usage_incremental_strategy() -%}
    {#- Signed deltas merged into the grain rows (get_incremental_usage_delta_sql). -#}
    {{ return('usage_delta') }}
{%- endmacro %}

{% macro spark__usage_incremental_strategy() -%}
    {#- Spark's parquet tables have no MERGE: the partitions (time buckets) a run touches are
        recomputed whole and replace the old ones (spark__usage_rollup). -#}
    {{ return('insert_overwrite') }}
{%- endmacro %}
