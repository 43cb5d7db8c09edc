-- Recomputes, straight from the deduplicated, non-voided events, what every rollup should hold
-- for each organization and local date, and says whether the rollups agree. Daily rows are
-- compared by the local date of each event; hourly rows by the local date of their UTC hour
-- start (an hour can straddle two local dates in zones such as +05:30), and the raw side is
-- computed on the same basis for each comparison. Everything is as of this run's upper bound.
-- Besides requests, total tokens and cost, the token breakdowns (cache reads and writes,
-- reasoning) are compared the same way.
{%- set breakdowns = ['cache_read_input_tokens', 'cache_write_input_tokens', 'reasoning_tokens'] %}
{%- set token_sums = ['total_tokens'] + breakdowns %}
with

run_bounds as (

    select upper_commit_seq
    from {{ source('rollup_state', 'rollup_runs') }}
    where invocation_id = '{{ invocation_id }}'

),

timezones as (

    select
        org_id,
        timezone
    from {{ ref('int_organizations_versioned') }}
    where {{ rollup_as_of_run('valid_from_commit_seq', 'valid_to_commit_seq', invocation_id) }}

),

counted_events as (

    select
        events.org_id,
        events.event_at,
        events.input_tokens + events.output_tokens as total_tokens,
        {% for breakdown in breakdowns %}
            events.{{ breakdown }},
        {% endfor %}
        {{ usage_cost('events', 'prices') }} as cost_usd,
        coalesce(timezones.timezone, 'UTC') as timezone
    from {{ ref('stg_platform__events') }} as events
    inner join {{ ref('stg_platform__load_batches') }} as event_batches
        on events.batch_id = event_batches.batch_id
    left join {{ ref('stg_platform__voids') }} as voids
        on events.event_id = voids.event_id
    left join {{ ref('stg_platform__load_batches') }} as void_batches
        on voids.batch_id = void_batches.batch_id
    left join {{ ref('int_model_prices_banded') }} as prices
        on {{ usage_price_matches('events', 'prices') }}
    left join timezones
        on events.org_id = timezones.org_id
    where
        event_batches.commit_seq <= (select run_bounds.upper_commit_seq from run_bounds)
        and (
            void_batches.commit_seq is null
            or void_batches.commit_seq > (select run_bounds.upper_commit_seq from run_bounds)
        )

),

raw_by_event_date as (

    select
        org_id,
        {{ usage_local_date('event_at', 'timezone') }} as usage_date,
        count(*) as request_count,
        {% for token_sum in token_sums %}
            sum({{ token_sum }}) as {{ token_sum }},
        {% endfor %}
        case when count(cost_usd) = count(*) then sum(cost_usd) end as cost_usd
    from counted_events
    group by 1, 2

),

raw_by_hour_date as (

    select
        org_id,
        {{ usage_local_date(usage_hour_utc('event_at'), 'timezone') }} as usage_date,
        count(*) as request_count,
        {% for token_sum in token_sums %}
            sum({{ token_sum }}) as {{ token_sum }},
        {% endfor %}
        case when count(cost_usd) = count(*) then sum(cost_usd) end as cost_usd
    from counted_events
    group by 1, 2

),

daily as (

    select
        org_id,
        usage_date,
        sum(request_count) as request_count,
        {% for token_sum in token_sums %}
            sum({{ token_sum }}) as {{ token_sum }},
        {% endfor %}
        case when count(cost_usd) = count(*) then sum(cost_usd) end as cost_usd
    from {{ ref('fct_usage_daily') }}
    group by 1, 2

),

hourly as (

    select
        hourly.org_id,
        {{ usage_local_date('hourly.usage_hour', "coalesce(timezones.timezone, 'UTC')") }}
            as usage_date,
        sum(hourly.request_count) as request_count,
        {% for token_sum in token_sums %}
            sum(hourly.{{ token_sum }}) as {{ token_sum }},
        {% endfor %}
        case when count(hourly.cost_usd) = count(*) then sum(hourly.cost_usd) end as cost_usd
    from {{ ref('fct_usage_hourly') }} as hourly
    left join timezones
        on hourly.org_id = timezones.org_id
    group by 1, 2

),

keys as (

    select
        org_id,
        usage_date
    from raw_by_event_date
    union
    select
        org_id,
        usage_date
    from raw_by_hour_date
    union
    select
        org_id,
        usage_date
    from daily
    union
    select
        org_id,
        usage_date
    from hourly

),

compared as (

    select
        keys.org_id,
        keys.usage_date,
        coalesce(raw_by_event_date.request_count, 0) as raw_request_count,
        coalesce(daily.request_count, 0) as daily_request_count,
        coalesce(raw_by_hour_date.request_count, 0) as raw_hour_basis_request_count,
        coalesce(hourly.request_count, 0) as hourly_request_count,
        coalesce(raw_by_event_date.total_tokens, 0) as raw_total_tokens,
        coalesce(daily.total_tokens, 0) as daily_total_tokens,
        coalesce(raw_by_hour_date.total_tokens, 0) as raw_hour_basis_total_tokens,
        coalesce(hourly.total_tokens, 0) as hourly_total_tokens,
        {% for breakdown in breakdowns %}
            coalesce(raw_by_event_date.{{ breakdown }}, 0) as raw_{{ breakdown }},
            coalesce(daily.{{ breakdown }}, 0) as daily_{{ breakdown }},
            coalesce(raw_by_hour_date.{{ breakdown }}, 0) as raw_hour_basis_{{ breakdown }},
            coalesce(hourly.{{ breakdown }}, 0) as hourly_{{ breakdown }},
        {% endfor %}
        raw_by_event_date.cost_usd as raw_cost_usd,
        daily.cost_usd as daily_cost_usd,
        raw_by_hour_date.cost_usd as raw_hour_basis_cost_usd,
        hourly.cost_usd as hourly_cost_usd
    from keys
    left join raw_by_event_date
        on keys.org_id = raw_by_event_date.org_id and keys.usage_date = raw_by_event_date.usage_date
    left join raw_by_hour_date
        on keys.org_id = raw_by_hour_date.org_id and keys.usage_date = raw_by_hour_date.usage_date
    left join daily
        on keys.org_id = daily.org_id and keys.usage_date = daily.usage_date
    left join hourly
        on keys.org_id = hourly.org_id and keys.usage_date = hourly.usage_date

),

final as (

    select
        org_id,
        usage_date,
        raw_request_count,
        daily_request_count,
        raw_hour_basis_request_count,
        hourly_request_count,
        raw_total_tokens,
        daily_total_tokens,
        raw_hour_basis_total_tokens,
        hourly_total_tokens,
        raw_cost_usd,
        daily_cost_usd,
        raw_hour_basis_cost_usd,
        hourly_cost_usd,
        {% for breakdown in breakdowns %}
            raw_{{ breakdown }},
            daily_{{ breakdown }},
            raw_hour_basis_{{ breakdown }},
            hourly_{{ breakdown }},
        {% endfor %}
        case
            when
                raw_request_count = daily_request_count
                and raw_total_tokens = daily_total_tokens
                and (raw_cost_usd is not distinct from daily_cost_usd)
                and raw_hour_basis_request_count = hourly_request_count
                and raw_hour_basis_total_tokens = hourly_total_tokens
                and (raw_hour_basis_cost_usd is not distinct from hourly_cost_usd)
                {% for breakdown in breakdowns %}
                    and raw_{{ breakdown }} = daily_{{ breakdown }}
                    and raw_hour_basis_{{ breakdown }} = hourly_{{ breakdown }}
                {% endfor %}
                then 'ok'
            else 'mismatch'
        end as status
    from compared

)

select * from final
