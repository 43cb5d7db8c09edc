-- Assert that the price rows of each model, service tier and threshold chain into one unbroken
-- line of half-open intervals: every row but the latest ends exactly where the next begins, only
-- the latest is open-ended, and no interval is empty, so every instant after their first row has
-- exactly one row.
with

model_prices as (

    select * from {{ ref('stg_reference__model_prices') }}

),

chained as (

    select
        model_id,
        service_tier,
        min_input_tokens,
        effective_from,
        effective_to,
        lead(effective_from) over (
            partition by model_id, service_tier, min_input_tokens
            order by effective_from
        ) as next_effective_from

    from model_prices

)

select * from chained
where
    effective_to is distinct from next_effective_from
    or effective_to <= effective_from
