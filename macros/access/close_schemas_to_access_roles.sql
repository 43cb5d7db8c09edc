{% macro close_schemas_to_access_roles() -%}
    {{ return(adapter.dispatch('close_schemas_to_access_roles', 'tally')()) }}
{%- endmacro %}


{% macro default__close_schemas_to_access_roles() -%}
{%- endmacro %}


{% macro postgres__close_schemas_to_access_roles() -%}
    {#-
        The reading roles may use the analytics schema and no other schema tally writes:
        raw, staging, intermediate, reference (seeds), snapshots, ops (the CLI's ledgers), the
        dbt test audit schema, and public (where PostgreSQL before 15 let PUBLIC create objects).
        Revoking what was never granted is a no-op, so this is safe to run on every build.
    -#}
    {%- set open_schema = generate_schema_name('analytics', none) | trim -%}
    {%- set closed = ['raw', 'staging', 'intermediate', 'reference', 'snapshots', 'ops', 'dbt_test__audit'] -%}
    do $tally_access$
    declare
        schema_name text;
    begin
        if exists (select from pg_namespace where nspname = '{{ open_schema }}') then
            execute format(
                'grant usage on schema %I to tally_analyst, tally_tenant', '{{ open_schema }}'
            );
        end if;
        -- PostgreSQL < 15 gives PUBLIC create on schema public; tally never needs it.
        begin
            revoke create on schema public from public;
        exception when insufficient_privilege then
            raise warning 'tally: cannot revoke create on schema public from public';
        end;
        for schema_name in
            select nspname from pg_namespace
            where nspname = any (array['{{ closed | join("', '") }}'])
              and nspname <> '{{ open_schema }}'
        loop
            begin
                execute format(
                    'revoke all on schema %I from public, tally_analyst, tally_tenant', schema_name
                );
                execute format(
                    'revoke all on all tables in schema %I from public, tally_analyst, tally_tenant',
                    schema_name
                );
            exception when insufficient_privilege then
                raise warning 'tally: cannot revoke access to schema %: not its owner', schema_name;
            end;
        end loop;
    end
    $tally_access$;
{%- endmacro %}
