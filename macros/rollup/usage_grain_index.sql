{% macro usage_grain_index(columns) -%}
    {{ return(adapter.dispatch('usage_grain_index', 'tally')(columns)) }}
{%- endmacro %}

{% macro postgres__usage_grain_index(columns) -%}
    {#-
        Enforces the grain in the database, NULL user_id / api_key_id being a group of their
        own (NULLS NOT DISTINCT, PostgreSQL 15+), and serves the merge of each run's deltas.
        On a full refresh over an existing table, the table being replaced (renamed to
        __dbt_backup, dropped after the commit) still holds the index's name: it is dropped
        first, or `if not exists` would leave the new table without the index.
    -#}
    {%- if not is_incremental() %}
    drop index if exists {{ this.schema }}.{{ this.identifier }}__grain;
    {%- endif %}
    create unique index if not exists {{ this.identifier }}__grain
    on {{ this }} ({{ columns | join(', ') }}) nulls not distinct
{%- endmacro %}

{% macro spark__usage_grain_index(columns) -%}
    {#- Spark has no unique indexes: the grain is checked by the models' data tests. -#}
    select 1
{%- endmacro %}
