-- The 10 models that cost most over the last 7 dates, across every organization: the question
-- of a dashboard over all tenants, answered from the serving table (a few rows per date and
-- organization) rather than the billing grain (one per user and key as well). Dates are each
-- organization's local dates, up to the latest date with usage.
with

usage_by_model as (

    select * from {{ ref('fct_usage_daily_by_model') }}

),

last_week as (

    select
        max(usage_date) - 6 as first_date,
        max(usage_date) as last_date
    from usage_by_model

),

final as (

    select
        usage_by_model.model_id,
        count(distinct usage_by_model.org_id) as organization_count,
        sum(usage_by_model.request_count) as request_count,
        sum(usage_by_model.total_tokens) as total_tokens,
        sum(usage_by_model.priced_cost_usd) as priced_cost_usd,
        sum(usage_by_model.unpriced_request_count) as unpriced_request_count

    from usage_by_model
    cross join last_week
    where usage_by_model.usage_date between last_week.first_date and last_week.last_date
    group by usage_by_model.model_id

)

select * from final
order by priced_cost_usd desc, model_id asc
limit 10
