{% macro usage_measure_type(data_type) -%}
    {{ return(adapter.dispatch('usage_measure_type', 'tally')(data_type)) }}
{%- endmacro %}

{% macro default__usage_measure_type(data_type) -%}
    {#- A measure's type as the list of measures writes it (PostgreSQL's names). -#}
    {{- data_type -}}
{%- endmacro %}
