-- The price list as bands that never overlap: for each model and service tier, one row per
-- period [effective_from, effective_to) and input-token range [min_input_tokens,
-- next_min_input_tokens) with the prices that bill an event falling in both. Contract section
-- 3: of the rows of the event's model and tier, take per min_input_tokens the one with the
-- latest effective_from <= event_time; of those, the greatest min_input_tokens <= input_tokens
-- prices the whole event. A period starts wherever any threshold's row of the model and tier
-- starts, so each event matches at most one band (none: the event is unpriced).
--
-- A table, indexed as usage_price_matches joins it, not a view: every rollup joins each event of
-- its change set to it, and PostgreSQL, expecting one event where 30,000 came, evaluated a view's
-- window functions again for each of them (2 s of each rollup at 3 M events, with some of
-- raw.events' statistics). Rebuilt only when the prices change (cli/tally/rollup_inputs.py).
{{
    config(
        materialized='table',
        post_hook=["{{ usage_lookup_index('match', ['model_id', 'service_tier', 'effective_from']) }}"],
    )
}}

with

model_prices as (

    select * from {{ ref('stg_reference__model_prices') }}

),

period_starts as (

    select distinct
        model_id,
        service_tier,
        effective_from
    from model_prices

),

periods as (

    select
        model_id,
        service_tier,
        effective_from,
        lead(effective_from) over (
            partition by model_id, service_tier
            order by effective_from
        ) as effective_to
    from period_starts

),

rows_in_effect as (

    -- per period, the row of each threshold in effect at its start
    select
        periods.model_id,
        periods.service_tier,
        periods.effective_from,
        periods.effective_to,
        model_prices.min_input_tokens,
        model_prices.effective_from as price_effective_from,
        model_prices.provider,
        model_prices.input_usd_per_1m,
        model_prices.output_usd_per_1m,
        model_prices.cache_read_usd_per_1m,
        model_prices.cache_write_usd_per_1m,
        model_prices.reasoning_usd_per_1m
    from periods
    inner join model_prices
        on
            periods.model_id = model_prices.model_id
            and periods.service_tier = model_prices.service_tier
            and periods.effective_from >= model_prices.effective_from
            and (
                model_prices.effective_to is null
                or periods.effective_from < model_prices.effective_to
            )

),

final as (

    select
        model_id,
        service_tier,
        effective_from,
        effective_to,
        min_input_tokens,
        lead(min_input_tokens) over (
            partition by model_id, service_tier, effective_from
            order by min_input_tokens
        ) as next_min_input_tokens,
        price_effective_from,
        provider,
        input_usd_per_1m,
        output_usd_per_1m,
        cache_read_usd_per_1m,
        cache_write_usd_per_1m,
        reasoning_usd_per_1m
    from rows_in_effect

)

select * from final
