-- An organization's bill for one calendar month, by model: requests, tokens and cost.
-- The month is the organization's own calendar month (fct_usage_daily dates usage in the
-- organization's time zone). Compile with, e.g.:
--   dbt compile -s org_monthly_bill_by_model --vars '{org_id: org_acme, billing_month: 2026-11}'
with

usage_daily as (

    select * from {{ ref('fct_usage_daily') }}

),

models as (

    select * from {{ ref('dim_models') }}

),

billing_period as (

    select
        cast('{{ var("billing_month", "2026-11") }}-01' as date) as first_date,
        cast('{{ var("billing_month", "2026-11") }}-01' as date) + interval '1 month' as end_date

),

usage_in_period as (

    select usage_daily.*

    from usage_daily
    cross join billing_period
    where
        usage_daily.org_id = '{{ var("org_id", "org_acme") }}'
        and usage_daily.usage_date >= billing_period.first_date
        and usage_daily.usage_date < billing_period.end_date

),

final as (

    select
        usage_in_period.model_id,
        models.provider,
        sum(usage_in_period.request_count) as request_count,
        sum(usage_in_period.input_tokens) as input_tokens,
        sum(usage_in_period.output_tokens) as output_tokens,
        sum(usage_in_period.total_tokens) as total_tokens,
        -- sum() skips NULLs: count the unpriced rows so a partial total is never mistaken
        -- for the whole bill.
        sum(usage_in_period.cost_usd) as cost_usd,
        count(*) filter (where usage_in_period.cost_usd is null) as unpriced_row_count

    from usage_in_period
    left join models
        on usage_in_period.model_id = models.model_id
    group by usage_in_period.model_id, models.provider

)

select * from final
order by cost_usd desc nulls last, model_id asc
