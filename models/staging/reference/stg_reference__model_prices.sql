with

model_prices as (

    select * from {{ ref('model_prices') }}

),

renamed as (

    select
        model_id,
        provider,
        -- The seed's effective_from is a timestamp without time zone that means UTC: attach the
        -- zone here, explicitly, so the instant never depends on the session's time zone.
        {{ utc_instant('effective_from') }} as effective_from,
        cast(input_usd_per_1m as {{ dbt.type_numeric() }}) as input_usd_per_1m,
        cast(output_usd_per_1m as {{ dbt.type_numeric() }}) as output_usd_per_1m

    from model_prices

),

final as (

    select
        model_id,
        provider,
        effective_from,
        lead(effective_from) over (
            partition by model_id
            order by effective_from
        ) as effective_to,
        input_usd_per_1m,
        output_usd_per_1m

    from renamed

)

select * from final
