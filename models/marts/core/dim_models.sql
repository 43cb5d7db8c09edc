with

model_prices as (

    select * from {{ ref('stg_reference__model_prices') }}

),

-- The standard price in force now (the standard tier's row from 0 input tokens): the row with the
-- latest effective_from at or before now, i.e. the row whose half-open interval
-- [effective_from, effective_to) holds now.
current_prices as (

    select
        model_id,
        input_usd_per_1m,
        output_usd_per_1m,
        effective_from,
        effective_to

    from model_prices
    where
        service_tier = 'standard'
        and min_input_tokens = 0
        and effective_from <= {{ dbt.current_timestamp() }}
        and (effective_to is null or effective_to > {{ dbt.current_timestamp() }})

),

models as (

    select
        model_id,
        provider,
        row_number() over (
            partition by model_id
            order by effective_from desc
        ) as recency_rank

    from model_prices

),

final as (

    select
        models.model_id,
        models.provider,
        current_prices.input_usd_per_1m,
        current_prices.output_usd_per_1m,
        current_prices.effective_from as price_effective_from,
        current_prices.effective_to as price_effective_to

    from models
    left join current_prices
        on models.model_id = current_prices.model_id
    where models.recency_rank = 1

)

select * from final
