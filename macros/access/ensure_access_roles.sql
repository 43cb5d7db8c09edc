{% macro ensure_access_roles() -%}
    {{ return(adapter.dispatch('ensure_access_roles', 'tally')()) }}
{%- endmacro %}


{% macro default__ensure_access_roles() -%}
    {#- Roles and row-level security are PostgreSQL features; other engines get no access setup. -#}
    {% do log("tally: access roles are managed on PostgreSQL targets only", info=true) %}
{%- endmacro %}


{% macro postgres__ensure_access_roles() -%}
    {#-
        on-run-start: the roles tally_analyst and tally_tenant exist (NOLOGIN: people and
        applications log in as their own roles, members of these), can use the analytics schema
        and nothing else tally builds. Idempotent; safe when several builds start together.
    -#}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set roles = access_roles() -%}
    {%- set found = run_query(
        "select rolname from pg_roles where rolname in ('"
        ~ roles | join("', '") ~ "')"
    ).columns[0].values() | list -%}
    {%- set missing = roles | reject('in', found) | list -%}
    {%- if missing -%}
        {%- set can_create = run_query(
            "select rolsuper or rolcreaterole from pg_roles where rolname = current_user"
        ).columns[0].values()[0] -%}
        {%- if not can_create -%}
            {{ exceptions.raise_compiler_error(
                "tally: the role(s) " ~ missing | join(', ') ~ " do not exist and the database user '"
                ~ target.user ~ "' may not create roles. Ask an administrator to run, once: "
                ~ "create role tally_analyst nologin; create role tally_tenant nologin;"
                ~ " (or build as a user with CREATEROLE). See docs/access.md."
            ) }}
        {%- endif -%}
    {%- endif %}

    do $tally_access$
    declare
        role_name text;
    begin
        foreach role_name in array array['{{ roles | join("', '") }}'] loop
            if not exists (select from pg_roles where rolname = role_name) then
                begin
                    execute format('create role %I nologin', role_name);
                exception when duplicate_object or unique_violation then
                    null;  -- another build created it a moment ago
                end;
            end if;
        end loop;
    end
    $tally_access$;

    {{ close_schemas_to_access_roles() }}

    {{ ensure_views_run_as_invoker() }}
{%- endmacro %}
