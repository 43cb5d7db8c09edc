{% macro usage_partition_by(bucket_column) -%}
    {{ return(adapter.dispatch('usage_partition_by', 'tally')(bucket_column)) }}
{%- endmacro %}

{% macro default__usage_partition_by(bucket_column) -%}
    {#- PostgreSQL's rollups are not partitioned: deltas are merged row by row. -#}
    {{ return(none) }}
{%- endmacro %}

{% macro spark__usage_partition_by(bucket_column) -%}
    {#- One partition per time bucket, the unit an incremental run overwrites. -#}
    {{ return([bucket_column]) }}
{%- endmacro %}
