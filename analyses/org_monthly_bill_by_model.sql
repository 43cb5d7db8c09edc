-- An organization's bill for one calendar month, by model: requests, tokens and cost.
-- The month is the organization's own calendar month (usage dates are in the organization's
-- time zone). Read from the serving table, which already holds one row per date, organization
-- and model: the bill needs no user or key. Compile with, e.g.:
--   dbt compile -s org_monthly_bill_by_model --vars '{org_id: org_acme, billing_month: 2026-11}'
with

usage_by_model as (

    select * from {{ ref('fct_usage_daily_by_model') }}

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

    select usage_by_model.*

    from usage_by_model
    cross join billing_period
    where
        usage_by_model.org_id = '{{ var("org_id", "org_acme") }}'
        and usage_by_model.usage_date >= billing_period.first_date
        and usage_by_model.usage_date < billing_period.end_date

),

final as (

    select
        usage_in_period.model_id,
        models.provider,
        sum(usage_in_period.request_count) as request_count,
        sum(usage_in_period.input_tokens) as input_tokens,
        sum(usage_in_period.output_tokens) as output_tokens,
        sum(usage_in_period.total_tokens) as total_tokens,
        -- the bill is whole only when every request is priced: cost_usd is NULL otherwise, and
        -- priced_cost_usd with unpriced_request_count say what is known and what is missing
        case
            when sum(usage_in_period.unpriced_request_count) = 0
                then sum(usage_in_period.priced_cost_usd)
        end as cost_usd,
        sum(usage_in_period.priced_cost_usd) as priced_cost_usd,
        sum(usage_in_period.unpriced_request_count) as unpriced_request_count

    from usage_in_period
    left join models
        on usage_in_period.model_id = models.model_id
    group by usage_in_period.model_id, models.provider

)

select * from final
order by priced_cost_usd desc, model_id asc
