{% snapshot snp_model_prices %}

    with

    model_prices as (

        select * from {{ ref('stg_reference__model_prices') }}

    ),

    -- effective_to is left out: it is derived from the next row, so it changes whenever a row is
    -- added, which is not an edit of this row.
    final as (

        select
            model_id,
            provider,
            service_tier,
            min_input_tokens,
            effective_from,
            input_usd_per_1m,
            output_usd_per_1m,
            cache_read_usd_per_1m,
            cache_write_usd_per_1m,
            reasoning_usd_per_1m

        from model_prices

    )

    select * from final

{% endsnapshot %}
