{#-
    The price list may predate the optional columns (contract section 3): a column the seed
    lacks reads as empty. A unit test's fixture is no table (nothing to look up): it has them all.
-#}
{%- set seed_columns = [] -%}
{%- if execute -%}
    {%- for column in adapter.get_columns_in_relation(ref('model_prices')) -%}
        {%- do seed_columns.append(column.name | lower) -%}
    {%- endfor -%}
{%- endif -%}
{%- set given = {} -%}
{%- for column in ['service_tier', 'min_input_tokens', 'cache_read_usd_per_1m',
                   'cache_write_usd_per_1m', 'reasoning_usd_per_1m'] -%}
    {%- set present = not seed_columns or column in seed_columns -%}
    {%- do given.update({column: column if present else 'null'}) -%}
{%- endfor -%}

with

model_prices as (

    select * from {{ ref('model_prices') }}

),

typed as (

    select
        model_id,
        provider,
        effective_from,
        cast(input_usd_per_1m as {{ engine_type('numeric') }}) as input_usd_per_1m,
        cast(output_usd_per_1m as {{ engine_type('numeric') }}) as output_usd_per_1m,
        cast({{ given['service_tier'] }} as {{ engine_type('text') }}) as service_tier,
        cast({{ given['min_input_tokens'] }} as bigint) as min_input_tokens,
        cast({{ given['cache_read_usd_per_1m'] }} as {{ engine_type('numeric') }})
            as cache_read_usd_per_1m,
        cast({{ given['cache_write_usd_per_1m'] }} as {{ engine_type('numeric') }})
            as cache_write_usd_per_1m,
        cast({{ given['reasoning_usd_per_1m'] }} as {{ engine_type('numeric') }})
            as reasoning_usd_per_1m

    from model_prices

),

renamed as (

    select
        model_id,
        provider,
        -- The seed's effective_from is a timestamp without time zone that means UTC: attach the
        -- zone here, explicitly, so the instant never depends on the session's time zone.
        {{ utc_instant('effective_from') }} as effective_from,
        -- empty optional columns take the contract's defaults
        coalesce(nullif(service_tier, ''), 'standard') as service_tier,
        coalesce(min_input_tokens, 0) as min_input_tokens,
        input_usd_per_1m,
        output_usd_per_1m,
        coalesce(cache_read_usd_per_1m, input_usd_per_1m) as cache_read_usd_per_1m,
        coalesce(cache_write_usd_per_1m, input_usd_per_1m) as cache_write_usd_per_1m,
        coalesce(reasoning_usd_per_1m, output_usd_per_1m) as reasoning_usd_per_1m

    from typed

),

final as (

    select
        model_id,
        provider,
        service_tier,
        min_input_tokens,
        effective_from,
        lead(effective_from) over (
            partition by model_id, service_tier, min_input_tokens
            order by effective_from
        ) as effective_to,
        input_usd_per_1m,
        output_usd_per_1m,
        cache_read_usd_per_1m,
        cache_write_usd_per_1m,
        reasoning_usd_per_1m

    from renamed

)

select * from final
