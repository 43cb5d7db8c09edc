{% macro engine_type(data_type) -%}
    {{ return(adapter.dispatch('engine_type', 'tally')(data_type)) }}
{%- endmacro %}

{% macro default__engine_type(data_type) -%}
    {#- A column type as the project writes it (PostgreSQL's names). -#}
    {{ return(data_type) }}
{%- endmacro %}

{% macro spark__engine_type(data_type) -%}
    {#- Spark has no `text`, and its bare `numeric` is decimal(10, 0), which would round every
        price to a whole dollar: prices keep six decimals. -#}
    {{ return({'text': 'string', 'numeric': 'decimal(28, 6)'}.get(data_type, data_type)) }}
{%- endmacro %}
