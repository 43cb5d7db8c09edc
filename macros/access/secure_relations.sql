{% macro secure_relations(schema_name='analytics', relation_name=none) -%}
    {{ return(adapter.dispatch('secure_relations', 'tally')(schema_name, relation_name)) }}
{%- endmacro %}


{% macro default__secure_relations(schema_name, relation_name) -%}
{%- endmacro %}


{% macro postgres__secure_relations(schema_name, relation_name) -%}
    {#-
        Make the relations of the analytics schema safe to read for the access roles, from the
        catalog, so that it covers relations nobody listed (one relation, or all of the schema):

        - every relation: tally_analyst may select it;
        - a table with an org_id column: row-level security, tally_tenant sees the rows whose
          org_id equals the session setting tally.org_id (none when it is unset or empty),
          tally_analyst sees every row; tally_tenant may select it;
        - a table without org_id named in var('tally_tenant_shared_relations') (public data such
          as the price list): tally_tenant sees every row;
        - any other table: row-level security with no tenant policy (a tenant sees no row) and
          tally_tenant's privilege revoked;
        - a view: security_invoker, so the row-level security of the tables it reads applies to
          whoever queries it (PostgreSQL 15+); tally_tenant may select it;
        - a materialized view or foreign table (row-level security cannot apply): not granted to
          tally_tenant.

        Runs as a post-hook inside each marts model's transaction (before it commits, so no reader
        sees the new relation unprotected) and on-run-end for the whole schema. Idempotent, and it
        changes nothing (takes no lock) when a relation is already as it should be.
    -#}
    {%- set shared = var('tally_tenant_shared_relations', []) -%}
    {%- for name in [schema_name, relation_name] + shared if name is not none -%}
        {%- if '$' in name -%}
            {{ exceptions.raise_compiler_error("tally: unsupported relation name: " ~ name) }}
        {%- endif -%}
    {%- endfor -%}
    do $tally_access$
    declare
        rel record;
        tenant_policy name;
        stale_policy name;
    begin
        for rel in
            select
                c.oid::regclass as name,
                c.relname,
                c.relkind,
                c.relrowsecurity,
                coalesce((
                    select o.option_value::boolean
                    from pg_options_to_table(c.reloptions) as o
                    where o.option_name = 'security_invoker'
                ), false) as is_security_invoker,
                exists (
                    select from pg_attribute as a
                    where a.attrelid = c.oid and a.attname = 'org_id'
                        and a.attnum > 0 and not a.attisdropped
                ) as has_org_id,
                exists (
                    select from aclexplode(c.relacl) as g
                    where g.grantee = 'tally_analyst'::regrole and g.privilege_type = 'SELECT'
                ) as analyst_can_select,
                exists (
                    select from aclexplode(c.relacl) as g
                    where g.grantee = 'tally_tenant'::regrole and g.privilege_type = 'SELECT'
                ) as tenant_can_select,
                exists (
                    select from aclexplode(c.relacl) as g
                    where g.grantee = 'tally_tenant'::regrole
                ) as tenant_has_any_privilege
            from pg_class as c
            inner join pg_namespace as n on c.relnamespace = n.oid
            where n.nspname = '{{ schema_name | replace("'", "''") }}'
                and c.relkind in ('r', 'p', 'v', 'm', 'f')
                {%- if relation_name is not none %}
                and c.relname = '{{ relation_name | replace("'", "''") }}'
                {%- endif %}
        loop
            -- Grants and revokes only when needed: each one rewrites the catalog row, and two at
            -- once on the same relation fail with "tuple concurrently updated".
            if not rel.analyst_can_select then
                execute format('grant select on %s to tally_analyst', rel.name);
            end if;

            if rel.relkind in ('r', 'p') then
                if rel.has_org_id then
                    tenant_policy := 'tally_tenant_own_org';
                elsif rel.relname = any (array[
                    {%- for name in shared %}'{{ name | replace("'", "''") }}'{{ ', ' if not loop.last }}{% endfor -%}
                ]::text[]) then
                    tenant_policy := 'tally_tenant_shared';
                else
                    tenant_policy := null;
                    raise warning 'tally: % has no org_id column and is not in var tally_tenant_shared_relations: not readable by tally_tenant', rel.name;
                end if;

                if not rel.relrowsecurity then
                    execute format('alter table %s enable row level security', rel.name);
                end if;
                -- Drop tally's policies that should not be there (a table that lost org_id).
                for stale_policy in
                    select p.polname from pg_policy as p
                    where p.polrelid = rel.name and p.polname like 'tally\_%'
                        and p.polname not in ('tally_analyst_all', coalesce(tenant_policy, ''))
                loop
                    execute format('drop policy %I on %s', stale_policy, rel.name);
                end loop;
                if not exists (
                    select from pg_policy where polrelid = rel.name and polname = 'tally_analyst_all'
                ) then
                    execute format(
                        'create policy tally_analyst_all on %s for select to tally_analyst using (true)',
                        rel.name
                    );
                end if;
                if tenant_policy is null then
                    if rel.tenant_has_any_privilege then
                        execute format('revoke all on %s from tally_tenant', rel.name);
                    end if;
                else
                    if not exists (
                        select from pg_policy where polrelid = rel.name and polname = tenant_policy
                    ) then
                        execute format(
                            'create policy %I on %s for select to tally_tenant using %s',
                            tenant_policy,
                            rel.name,
                            case tenant_policy
                                when 'tally_tenant_shared' then '(true)'
                                else '((org_id)::text = nullif(current_setting(''tally.org_id'', true), ''''))'
                            end
                        );
                    end if;
                    if not rel.tenant_can_select then
                        execute format('grant select on %s to tally_tenant', rel.name);
                    end if;
                end if;

            elsif rel.relkind = 'v' then
                if not rel.is_security_invoker then
                    execute format('alter view %s set (security_invoker = true)', rel.name);
                end if;
                if not rel.tenant_can_select then
                    execute format('grant select on %s to tally_tenant', rel.name);
                end if;

            else
                if rel.tenant_has_any_privilege then
                    execute format('revoke all on %s from tally_tenant', rel.name);
                end if;
                raise warning 'tally: % is a % relation, which row-level security cannot protect: not readable by tally_tenant', rel.name, rel.relkind;
            end if;
        end loop;
    end
    $tally_access$
{%- endmacro %}
