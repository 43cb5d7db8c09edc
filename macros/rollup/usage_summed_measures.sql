{% macro usage_summed_measures(bucket_column, dimensions, sign=none) -%}
    {#- The select list of a rollup's grouping: the bucket as `bucket_column`, the dimensions,
        and each measure of usage_measures() summed over the events (times `sign`, a column of
        +1 and -1, where given) in the engine's type (usage_measure_type). -#}
    bucket as {{ bucket_column }},
    {%- for dimension in dimensions %}
    {{ dimension }},
    {%- endfor %}
    {%- for measure in usage_measures() %}
    cast(sum({{ sign ~ ' * ' if sign }}({{ measure.per_event }})) as {{ usage_measure_type(measure.data_type) }}) as {{ measure.name }}
    {{- ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}
