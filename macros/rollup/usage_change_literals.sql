{% macro usage_change_literals(model_name, run_id, load_batches, prices, organization_timezones, by_local_date) -%}
    {#-
        What usage_changes finds changed for a table, read when the model runs: `repriced`, the
        models whose price changed, each with the earliest instant the change reaches, and for a
        local-date table `moved`, the organizations whose time zone changed. The table's lookups
        of their events filter with them as literals beside the same conditions in SQL: with the
        conditions alone PostgreSQL plans for an unknown period or set of organizations, guesses
        a large share of the events and reads every one of them, a cost that grows with
        history; with the literals it reads their rows of the (model_id, event_at) or the org_id
        index, and nothing when nothing changed.
    -#}
    {%- set query -%}
        with

        run_bounds as (

            {{ usage_run_bounds(model_name, run_id, true) }}

        ),
        {%- if by_local_date %}

        current_timezones as (

            {{ usage_current_timezones(organization_timezones, run_id) }}

        ),
        {%- endif %}

        {{ usage_changes(model_name, load_batches, prices, by_local_date) }}

        changed as (

            select
                'repriced' as change,
                model_id as key,
                cast(min(effective_from) as text) as since
            from changed_prices
            where effective_from is not null
            group by model_id
            {%- if by_local_date %}
            union all
            select
                'moved' as change,
                org_id as key,
                null as since
            from changed_timezones
            {%- endif %}

        )

        select
            change,
            key,
            since
        from changed
    {%- endset -%}
    {%- set found = {'repriced': [], 'moved': []} -%}
    {%- for change, key, since in run_query(query).rows -%}
        {%- do found[change].append([key, since]) -%}
    {%- endfor -%}
    {{ return(found) }}
{%- endmacro %}
