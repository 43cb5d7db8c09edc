{% macro ensure_views_run_as_invoker() -%}
    {{ return(adapter.dispatch('ensure_views_run_as_invoker', 'tally')()) }}
{%- endmacro %}


{% macro default__ensure_views_run_as_invoker() -%}
{%- endmacro %}


{% macro postgres__ensure_views_run_as_invoker() -%}
    {#-
        An event trigger that makes every view created or altered in the analytics schema
        security_invoker in the same statement, however it was made (a model, a macro, by hand):
        `create or replace view` without the option resets it, and keeps the view's grants, so
        without this a tenant could read every organization's rows through such a view until
        the next build's on-run-end. Event triggers need a superuser: for any other build user
        this is skipped with a log line (the build hooks still secure views after each build).
    -#}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set open_schema = generate_schema_name('analytics', none) | trim -%}
    {%- set is_superuser = run_query(
        "select rolsuper from pg_roles where rolname = current_user"
    ).columns[0].values()[0] -%}
    {%- if not is_superuser -%}
        {% do log("tally: not a superuser, so no event trigger makes new views in "
            ~ open_schema ~ " security_invoker at once; each build's hooks do it", info=true) %}
        {{ return('') }}
    {%- endif %}
    do $tally_access$
    declare
        -- (re)created only when missing or different: two builds replacing one function at
        -- once fail with "tuple concurrently updated"
        body constant text := $tally_function$
    declare
        created record;
    begin
        for created in
            select c.objid::regclass as name
            from pg_event_trigger_ddl_commands() as c
            inner join pg_class as r on c.objid = r.oid
            where c.object_type = 'view'
                and c.schema_name = '{{ open_schema }}'
                and not coalesce((
                    select o.option_value::boolean
                    from pg_options_to_table(r.reloptions) as o
                    where o.option_name = 'security_invoker'
                ), false)
        loop
            -- fires this trigger again (ALTER VIEW), which then finds nothing left to do
            execute format('alter view %s set (security_invoker = true)', created.name);
        end loop;
    end
    $tally_function$;
    begin
        create schema if not exists ops;
        if not exists (
            select from pg_proc
            where oid = to_regprocedure('ops.tally_views_run_as_invoker()') and prosrc = body
        ) then
            execute format(
                'create or replace function ops.tally_views_run_as_invoker() returns event_trigger'
                ' language plpgsql as %L',
                body
            );
            revoke all on function ops.tally_views_run_as_invoker() from public;
        end if;
        if not exists (select from pg_event_trigger where evtname = 'tally_views_run_as_invoker') then
            create event trigger tally_views_run_as_invoker on ddl_command_end
                when tag in ('CREATE VIEW', 'ALTER VIEW')
                execute function ops.tally_views_run_as_invoker();
        end if;
    exception when duplicate_object or unique_violation then
        null;  -- another build created it a moment ago
    end
    $tally_access$;
{%- endmacro %}
