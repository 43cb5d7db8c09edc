{% macro generate_schema_name(custom_schema_name, node) -%}
    {#- Exact schema names (raw, staging, analytics, ...) instead of <target>_<custom>. -#}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
