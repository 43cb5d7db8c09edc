-- sqlfluff:indentation:template_blocks_indent:false
-- Compares, per organization and local date, every summed measure of the raw events
-- (deduplicated, not voided, priced on their own join) with what each rollup holds, and says
-- whether they agree: counts, tokens and the token breakdowns (cache reads and writes,
-- reasoning), priced cost and unpriced requests. Daily rows are compared by the local date of
-- each event; hourly rows by the local date of their UTC hour start (an hour can straddle two
-- local dates in zones such as +05:30), and the raw side is computed on the same basis for each
-- comparison. Everything is as of this run's upper bound.
--
-- Full refresh (`tally verify`, `--full-refresh`): every (org_id, usage_date), the raw side
-- recomputed from all events. Incremental (`tally rollup`): only the pairs the run's change set
-- touches (the rollups' own change set: new events and voids, re-priced events, events of
-- organizations whose time zone changed). Their raw side is brought up to date with that change
-- set's signed contributions, their rollup side summed again from the daily rollup and from the
-- hourly rollup's sums per organization and hour (ops.rollup_hourly_org_sums: the hourly
-- rollup's merge sums the hours it touched again from the table), and their status recomputed;
-- the other rows stay as they were. On Spark (no DELETE on its parquet tables) every run is a
-- full build.
-- depends_on: {{ ref('int_events_indexed') }}
{{
    config(
        materialized='table' if target.type == 'spark' else 'incremental',
        incremental_strategy='delete+insert',
        unique_key=['org_id', 'usage_date'],
        on_schema_change='fail',
        pre_hook=["{{ rollup_lock_watermark() }}"],
        post_hook=[
            "{{ rollup_record_state(prices=ref('int_model_prices_banded'), organization_timezones=ref('int_organizations_versioned')) }}",
            "{{ usage_reconciliation_drop_empty_rows() }}",
            "{{ usage_grain_index(['org_id', 'usage_date']) }}",
            "{{ usage_lookup_index('invocation', ['reconciled_by_invocation_id']) }}",
            "{{ usage_lookup_index('mismatches', ['org_id', 'usage_date'], where=\"status = 'mismatch'\") }}",
        ],
    )
}}
{%- set measures = usage_measures() %}
{%- set sides = ['raw', 'daily', 'raw_hour_basis', 'hourly'] %}

with

run_bounds as (

    {{ usage_run_bounds(this.identifier, invocation_id, incremental=false) | indent(4) }}

),

timezones as (

    {{ usage_current_timezones(ref('int_organizations_versioned'), invocation_id) | indent(4) }}

),
{%- if is_incremental() %}

raw_deltas as (

    -- the change set's signed contributions per organization, local date of the event
    -- (usage_date) and local date of its UTC hour (hour_usage_date): one pass for both bases
    {{ usage_rollup(
        bucket_column='usage_date',
        bucket='local_date',
        incremental=true,
        run_id=invocation_id,
        events=ref('stg_platform__events'),
        voids=ref('stg_platform__voids'),
        load_batches=ref('stg_platform__load_batches'),
        prices=ref('int_model_prices_banded'),
        events_indexed=ref('int_events_indexed'),
        organization_timezones=ref('int_organizations_versioned'),
        dimensions=['org_id'],
        also_buckets={'hour_usage_date': 'local_date_of_utc_hour'},
    ) | indent(4) }}

),
{%- for basis, date_column in [('event_date', 'usage_date'), ('hour_date', 'hour_usage_date')] %}

raw_{{ basis }}_deltas as (

    select
        org_id,
        {{ date_column }} as usage_date,
        {%- for measure in measures %}
        sum({{ measure.name }}) as {{ measure.name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from raw_deltas
    group by 1, 2

),
{%- endfor %}

keys as (

    select
        org_id,
        usage_date
    from raw_event_date_deltas
    union
    select
        org_id,
        usage_date
    from raw_hour_date_deltas

),

previous as (

    select reconciled.*
    from {{ this }} as reconciled
    inner join keys
        on reconciled.org_id = keys.org_id and reconciled.usage_date = keys.usage_date

),
{%- for basis, side in [('event_date', 'raw'), ('hour_date', 'raw_hour_basis')] %}

raw_by_{{ basis }} as (

    select
        keys.org_id,
        keys.usage_date,
        {%- for measure in measures %}
        coalesce(previous.{{ side }}_{{ measure.name }}, 0)
            + coalesce(deltas.{{ measure.name }}, 0) as {{ measure.name }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from keys
    left join previous
        on keys.org_id = previous.org_id and keys.usage_date = previous.usage_date
    left join raw_{{ basis }}_deltas as deltas
        on keys.org_id = deltas.org_id and keys.usage_date = deltas.usage_date

),
{%- endfor %}
{%- else %}

counted_events as (

    select
        events.*,
        {{ usage_cost('events', 'prices') }} as cost_usd,
        coalesce(timezones.timezone, 'UTC') as org_timezone
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
{%- for basis, date_of in [('event_date', 'event_at'), ('hour_date', usage_hour_utc('event_at'))] %}

raw_by_{{ basis }} as (

    -- the local date and the measures render as expressions of many lines
    -- noqa: disable=LT02
    select
        org_id,
        {{ usage_local_date(date_of, 'org_timezone') }} as usage_date,
        {%- for measure in measures %}
        sum({{ measure.per_event }}) as {{ measure.name }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    -- noqa: enable=LT02
    from counted_events
    group by 1, 2

),
{%- endfor %}
{%- endif %}

daily as (

    select
        daily.org_id,
        daily.usage_date,
        {%- for measure in measures %}
        sum(daily.{{ measure.name }}) as {{ measure.name }},
        {%- endfor %}
        case when count(daily.cost_usd) = count(*) then sum(daily.cost_usd) end as cost_usd
    from {{ ref('fct_usage_daily') }} as daily
    {%- if is_incremental() %}
    inner join keys
        on daily.org_id = keys.org_id and daily.usage_date = keys.usage_date
    {%- endif %}
    group by 1, 2

),

hourly_by_hour as (

    -- summed per organization and UTC hour first, so that the conversion to local dates and
    -- the second sum below handle a few rows per hour instead of one per user, API key and model
    {%- if is_incremental() %}
    -- Incremental: those sums as the hourly rollup keeps them (usage_hourly_org_sums.sql), its
    -- merge having summed the hours the run touched again from the table; for the touched
    -- organizations between the first and the last touched date (a local date's hours start
    -- between 14 h before and 12 h after its UTC date): the join on keys below keeps the
    -- touched dates.
    select
        sums.org_id,
        sums.usage_hour,
        {%- for measure in measures %}
        sums.{{ measure.name }},
        {%- endfor %}
        sums.priced_row_count,
        sums.row_count,
        sums.cost_usd
    from {{ usage_hourly_org_sums_relation() }} as sums
    where
        sums.usage_hour >= (select cast(min(keys.usage_date) as timestamp) at time zone 'UTC'
                            from keys) - interval '1 day'
        and sums.usage_hour < (select cast(max(keys.usage_date) as timestamp) at time zone 'UTC'
                               from keys) + interval '2 days'
        and sums.org_id = any(array(select distinct keys.org_id from keys))
    {%- else %}
    {{ usage_hourly_org_sums_select(ref('fct_usage_hourly')) | indent(4) }}
    {%- endif %}

),

hourly as (

    select
        hourly.org_id,
        {{ usage_local_date('hourly.usage_hour', "coalesce(timezones.timezone, 'UTC')") }}
            as usage_date,
        {%- for measure in measures %}
        sum(hourly.{{ measure.name }}) as {{ measure.name }},
        {%- endfor %}
        case
            when sum(hourly.priced_row_count) = sum(hourly.row_count) then sum(hourly.cost_usd)
        end as cost_usd
    from hourly_by_hour as hourly
    left join timezones
        on hourly.org_id = timezones.org_id
    group by 1, 2

),
{%- if not is_incremental() %}

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
{%- endif %}

compared as (

    select
        keys.org_id,
        keys.usage_date,
        {%- for measure in measures %}
        {%- for side, cte in [('raw', 'raw_by_event_date'), ('daily', 'daily'),
                              ('raw_hour_basis', 'raw_by_hour_date'), ('hourly', 'hourly')] %}
        cast(
            coalesce({{ cte }}.{{ measure.name }}, 0) as {{ usage_measure_type(measure.data_type) }}
        ) as {{ side }}_{{ measure.name }},
        {%- endfor %}
        {%- endfor %}
        case when daily.org_id is null then 0 else daily.cost_usd end as daily_cost_usd,
        case when hourly.org_id is null then 0 else hourly.cost_usd end as hourly_cost_usd
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
        {%- for measure in measures %}
        {%- for side in sides %}
        {{ side }}_{{ measure.name }},
        {%- endfor %}
        {%- endfor %}
        {{ usage_row_cost_usd('raw_priced_cost_usd', 'raw_unpriced_request_count') }}
            as raw_cost_usd,
        daily_cost_usd,
        {{ usage_row_cost_usd(
            'raw_hour_basis_priced_cost_usd', 'raw_hour_basis_unpriced_request_count'
        ) }} as raw_hour_basis_cost_usd,
        hourly_cost_usd,
        case
            when
                {%- for measure in measures %}
                raw_{{ measure.name }} = daily_{{ measure.name }}
                and raw_hour_basis_{{ measure.name }} = hourly_{{ measure.name }}
                and
                {%- endfor %}
                (
                    {{ usage_row_cost_usd('raw_priced_cost_usd', 'raw_unpriced_request_count') }}
                    is not distinct from daily_cost_usd
                )
                and (
                    {{ usage_row_cost_usd(
                        'raw_hour_basis_priced_cost_usd', 'raw_hour_basis_unpriced_request_count'
                    ) }}
                    is not distinct from hourly_cost_usd
                )
                then 'ok'
            else 'mismatch'
        end as status,
        '{{ invocation_id }}' as reconciled_by_invocation_id
    from compared

)

select * from final
