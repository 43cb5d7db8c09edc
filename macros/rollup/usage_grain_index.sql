{% macro usage_grain_index(columns) -%}
    {{ return(adapter.dispatch('usage_grain_index', 'tally')(columns)) }}
{%- endmacro %}

{% macro postgres__usage_grain_index(columns) -%}
    {#-
        Enforces the grain in the database, NULL user_id / api_key_id being a group of their
        own (NULLS NOT DISTINCT, PostgreSQL 15+), and serves the merge of each run's deltas.
    -#}
    create unique index if not exists {{ this.identifier }}__grain
    on {{ this }} ({{ columns | join(', ') }}) nulls not distinct
{%- endmacro %}
