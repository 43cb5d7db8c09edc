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
        readers constant oid[] := array[0, 'tally_analyst'::regrole, 'tally_tenant'::regrole];
        schema_name name;
        rel regclass;
    begin
        -- Each statement runs only when the catalog says it is needed: a grant or revoke
        -- rewrites the object's catalog row, and two at once fail ("tuple concurrently updated").
        if exists (
            select from pg_namespace as n
            where n.nspname = '{{ open_schema }}' and (
                select count(*) from aclexplode(n.nspacl) as g
                where g.grantee = any (readers[2:3]) and g.privilege_type = 'USAGE'
            ) < 2
        ) then
            execute format(
                'grant usage on schema %I to tally_analyst, tally_tenant', '{{ open_schema }}'
            );
        end if;
        -- PostgreSQL < 15 gives PUBLIC create on schema public; tally never needs it.
        if exists (
            select from pg_namespace as n, aclexplode(n.nspacl) as g
            where n.nspname = 'public' and g.grantee = 0 and g.privilege_type = 'CREATE'
        ) then
            begin
                revoke create on schema public from public;
            exception when insufficient_privilege then
                raise warning 'tally: cannot revoke create on schema public from public';
            end;
        end if;
        for schema_name in
            select n.nspname from pg_namespace as n
            where n.nspname = any (array['{{ closed | join("', '") }}'])
                and n.nspname <> '{{ open_schema }}'
                and exists (select from aclexplode(n.nspacl) as g where g.grantee = any (readers))
        loop
            begin
                execute format(
                    'revoke all on schema %I from public, tally_analyst, tally_tenant', schema_name
                );
            exception when insufficient_privilege then
                raise warning 'tally: cannot revoke access to schema %: not its owner', schema_name;
            end;
        end loop;
        for rel in
            select c.oid::regclass from pg_class as c
            inner join pg_namespace as n on c.relnamespace = n.oid
            where n.nspname = any (array['{{ closed | join("', '") }}'])
                and n.nspname <> '{{ open_schema }}'
                and exists (select from aclexplode(c.relacl) as g where g.grantee = any (readers))
        loop
            begin
                execute format('revoke all on %s from public, tally_analyst, tally_tenant', rel);
            exception when insufficient_privilege then
                raise warning 'tally: cannot revoke access to %: not its owner', rel;
            end;
        end loop;
    end
    $tally_access$;
{%- endmacro %}
