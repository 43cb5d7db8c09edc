{% macro usage_row_columns(bucket_column, dimensions) -%}
    {#- The select list of a rollup row, from a relation of usage_summed_measures' columns: the
        bucket, the dimensions, every measure of usage_measures(), then cost_usd derived from
        them. Where the table is partitioned by its bucket (usage_partition_by: Spark), the
        bucket comes last, as a partitioned table's partition column must. -#}
    {%- set bucket_last = usage_partition_by(bucket_column) is not none -%}
    {%- if not bucket_last %}
    {{ bucket_column }},
    {%- endif %}
    {%- for dimension in dimensions %}
    {{ dimension }},
    {%- endfor %}
    {%- for measure in usage_measures() %}
    {{ measure.name }},
    {%- endfor %}
    {{ usage_row_cost_usd('priced_cost_usd', 'unpriced_request_count') }} as cost_usd
    {%- if bucket_last -%}
    ,
    {{ bucket_column }}
    {%- endif %}
{%- endmacro %}
