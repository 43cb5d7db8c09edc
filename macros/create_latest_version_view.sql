{% macro create_latest_version_view() -%}
    {{ return(adapter.dispatch('create_latest_version_view', 'tally')()) }}
{%- endmacro %}

{% macro default__create_latest_version_view() -%}
    {#-
        Post-hook of a versioned model: when this version is the latest, (re)points the
        unversioned name (e.g. analytics.fct_usage_daily) at it, as a view that runs with the
        querying user's rights, so row-level security of the version's table applies, with the
        version's descriptions.
    -#}
    {%- if model.get('version') and model.get('version') == model.get('latest_version') -%}
    {%- set view = api.Relation.create(database=this.database, schema=this.schema, identifier=model['name']) -%}
    create or replace view {{ view }} with (security_invoker = true) as
    select * from {{ this }};
    comment on view {{ view }} is {{ postgres_escape_comment(model.description) }};
    {%- for column in model.columns.values() %}
    comment on column {{ view }}.{{ adapter.quote(column.name) }} is {{ postgres_escape_comment(column.description) }};
    {%- endfor %}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{% macro spark__create_latest_version_view() -%}
    {#- The unversioned name as a plain view (Spark has no row-level security to run as). -#}
    {%- if model.get('version') and model.get('version') == model.get('latest_version') -%}
    {%- set view = api.Relation.create(database=this.database, schema=this.schema, identifier=model['name']) -%}
    create or replace view {{ view }} as select * from {{ this }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
