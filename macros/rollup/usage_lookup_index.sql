{% macro usage_lookup_index(name, columns, where=none) -%}
    {{ return(adapter.dispatch('usage_lookup_index', 'tally')(name, columns, where)) }}
{%- endmacro %}

{% macro postgres__usage_lookup_index(name, columns, where=none) -%}
    {#-
        A B-tree index <table>__<name> on `columns` for the questions asked of a table (one
        organization's dates, say), of the rows `where` holds if given. Dropped first on a full
        refresh, as the grain index is: the table being replaced still holds the name until the
        run commits.
    -#}
    {%- set index_name = this.identifier ~ '__' ~ name -%}
    {%- if not is_incremental() %}
    drop index if exists {{ this.schema }}.{{ index_name }};
    {%- endif %}
    create index if not exists {{ index_name }}
    on {{ this }} ({{ columns | join(', ') }})
    {%- if where %} where {{ where }}{% endif %}
{%- endmacro %}

{% macro spark__usage_lookup_index(name, columns, where=none) -%}
    {#- Spark has no indexes: its tables are read by partition (the time bucket). -#}
    select 1
{%- endmacro %}
