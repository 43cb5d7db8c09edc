{% macro usage_repriced_since(model_name, run_id, load_batches, prices) -%}
    {#-
        The models whose price changed for a table (usage_changes' changed_prices), each with
        the earliest instant the change reaches, read when the model runs. The table's lookup of
        re-priced events filters with them as literals beside the join on changed_prices: with
        the join alone PostgreSQL plans for an unknown period, guesses a third of the events and
        reads every one of them, a cost that grows with history; with the literals it reads the
        period's rows of the (model_id, event_at) index, and nothing when no price changed.
    -#}
    {%- set query -%}
        with

        run_bounds as (

            {{ usage_run_bounds(model_name, run_id, true) }}

        ),

        {{ usage_changes(model_name, load_batches, prices, false) }}

        earliest as (

            select
                model_id,
                min(effective_from) as since
            from changed_prices
            group by model_id

        )

        select
            model_id,
            cast(since as text)
        from earliest
        where since is not null
    {%- endset -%}
    {{ return(run_query(query).rows | map('list') | list) }}
{%- endmacro %}
