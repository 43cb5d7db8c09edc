{% macro spark__usage_rollup(bucket_column, bucket, incremental, run_id, events, voids, load_batches, prices, events_indexed, organization_timezones, dimensions) -%}
    {#-
        The usage rollups on Spark, whose parquet tables have no MERGE: every row of a time
        bucket is recomputed from the events, and the buckets an incremental run recomputes
        replace their partitions whole (insert_overwrite), which is exact by construction.

        Full refresh: every bucket. Incremental: the buckets touched since what the table
        reflects (ops.rollup_*): those of events and voids loaded since the watermark, of events
        under a price row that changed, of events of an organization whose time zone changed,
        each in its bucket as the table has it (applied time zones) and as it is now. They are
        read when the model compiles (spark__usage_touched_buckets); their partitions are
        dropped first, so a bucket left without events (all voided) disappears too. A run
        killed before its post-hook leaves the state as it was: the next run recomputes the
        same buckets. events_indexed, PostgreSQL's lookup of events by model and by
        organization, is not read: a bucket's events are found by its partitions.
    -#}
    {%- set measures = usage_measures() -%}
    {%- set touched = none -%}
    {%- if incremental and execute -%}
        {%- set touched = spark__usage_touched_buckets(bucket, run_id, events, voids, load_batches, prices, organization_timezones) -%}
        {%- if touched and flags.WHICH in ['run', 'build'] -%}
            {%- call statement('drop_touched_partitions') -%}
                alter table {{ this }} drop if exists
                {%- for value in touched %}
                partition ({{ bucket_column }} = '{{ value }}'){{ ',' if not loop.last }}
                {%- endfor %}
            {%- endcall -%}
        {%- endif -%}
    {%- endif %}

with

run_bounds as (

    select upper_commit_seq
    from {{ source('rollup_state', 'rollup_runs') }}
    where invocation_id = '{{ run_id }}'

),

{%- if bucket == 'local_date' %}

current_timezones as (

    select
        org_id,
        timezone
    from {{ organization_timezones }}
    where {{ rollup_as_of_run('valid_from_commit_seq', 'valid_to_commit_seq', run_id) }}

),
{%- endif %}

counted_events as (

    select
        {{ spark__usage_bucket(bucket, 'events.event_at', 'timezones.timezone') }} as bucket,
        events.*,
        {{ usage_cost('events', 'prices') }} as cost_usd
    from {{ events }} as events
    inner join {{ load_batches }} as event_batches
        on events.batch_id = event_batches.batch_id
    left join {{ voids }} as voids
        on events.event_id = voids.event_id
    left join {{ load_batches }} as void_batches
        on voids.batch_id = void_batches.batch_id
    left join {{ prices }} as prices
        on {{ usage_price_matches('events', 'prices') }}
    {%- if bucket == 'local_date' %}
    left join current_timezones as timezones
        on events.org_id = timezones.org_id
    {%- endif %}
    where
        event_batches.commit_seq <= (select upper_commit_seq from run_bounds)
        and (
            void_batches.commit_seq is null
            or void_batches.commit_seq > (select upper_commit_seq from run_bounds)
        )

),

grouped as (

    select
        bucket as {{ bucket_column }},
        {%- for dimension in dimensions %}
        {{ dimension }},
        {%- endfor %}
        {%- for measure in measures %}
        cast(sum({{ measure.per_event }}) as {{ spark__usage_measure_type(measure.data_type) }}) as {{ measure.name }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from counted_events
    {%- if incremental %}
    where cast(bucket as string) in (
        {%- for value in touched or [] %}'{{ value }}'{{ ', ' if not loop.last }}{% endfor -%}
        {{- 'null' if not touched }})
    {%- endif %}
    group by {{ range(1, dimensions | length + 2) | join(', ') }}

),

final as (

    select
        {%- for dimension in dimensions %}
        {{ dimension }},
        {%- endfor %}
        {%- for measure in measures %}
        {{ measure.name }},
        {%- endfor %}
        {{ usage_row_cost_usd('priced_cost_usd', 'unpriced_request_count') }} as cost_usd,
        {{ bucket_column }}
    from grouped

)

select * from final
{%- endmacro %}


{% macro spark__usage_bucket(bucket, timestamp, timezone) -%}
    {#- An event's time bucket: 'utc_hour', 'utc_date' or 'local_date' (in `timezone`, UTC when
        the organization has none). -#}
    {%- if bucket == 'utc_hour' -%}
    {{ usage_hour_utc(timestamp) }}
    {%- elif bucket == 'utc_date' -%}
    {{ usage_local_date(timestamp, "'UTC'") }}
    {%- else -%}
    {{ usage_local_date(timestamp, "coalesce(" ~ timezone ~ ", 'UTC')") }}
    {%- endif -%}
{%- endmacro %}


{% macro spark__usage_measure_type(data_type) -%}
    {#- A measure's type on Spark, where `numeric` without precision is decimal(10, 0): costs
        keep twelve decimals (token counts times prices of six, times 10^-6), which is exact. -#}
    {{- 'decimal(38, 12)' if data_type | trim == 'numeric' else data_type -}}
{%- endmacro %}


{% macro spark__usage_touched_buckets(bucket, run_id, events, voids, load_batches, prices, organization_timezones) -%}
    {#-
        The buckets (as strings) that an incremental run of this model recomputes: those, as
        the table has them and as they are now, of every event whose contribution may have
        changed since the table's watermark (new events, new voids, changed prices, changed
        time zones).
    -#}
    {%- set model_name = this.identifier -%}
    {%- set by_local_date = bucket == 'local_date' -%}
    {%- set query -%}
with

run_bounds as (

    select
        runs.upper_commit_seq,
        coalesce(watermarks.applied_commit_seq, 0) as applied_commit_seq
    from {{ source('rollup_state', 'rollup_runs') }} as runs
    left join {{ source('rollup_state', 'rollup_watermarks') }} as watermarks
        on watermarks.model_name = '{{ model_name }}'
    where runs.invocation_id = '{{ run_id }}'

),

new_batches as (

    select batch_id
    from {{ load_batches }}
    where
        commit_seq > (select applied_commit_seq from run_bounds)
        and commit_seq <= (select upper_commit_seq from run_bounds)

),

applied_prices as (

    select {{ usage_price_columns() | join(', ') }}
    from {{ source('rollup_state', 'rollup_applied_prices') }}
    where model_name = '{{ model_name }}'

),

current_prices as (

    select {{ usage_price_columns() | join(', ') }}
    from {{ prices }}

),

changed_prices as (

    (select * from current_prices except select * from applied_prices)
    union all
    (select * from applied_prices except select * from current_prices)

),
{%- if by_local_date %}

current_timezones as (

    select org_id, timezone
    from {{ organization_timezones }}
    where {{ rollup_as_of_run('valid_from_commit_seq', 'valid_to_commit_seq', run_id) }}

),

applied_timezones as (

    select org_id, timezone
    from {{ source('rollup_state', 'rollup_applied_timezones') }}
    where model_name = '{{ model_name }}'

),

changed_timezones as (

    select coalesce(current_timezones.org_id, applied_timezones.org_id) as org_id
    from current_timezones
    full outer join applied_timezones
        on current_timezones.org_id = applied_timezones.org_id
    where
        coalesce(current_timezones.timezone, 'UTC')
        != coalesce(applied_timezones.timezone, 'UTC')

),
{%- endif %}

changed_events as (

    select events.org_id, events.event_at
    from {{ events }} as events
    where events.batch_id in (select batch_id from new_batches)

    union all

    select events.org_id, events.event_at
    from {{ events }} as events
    where events.event_id in (
        select voids.event_id from {{ voids }} as voids
        where voids.batch_id in (select batch_id from new_batches)
    )

    union all

    select events.org_id, events.event_at
    from {{ events }} as events
    inner join changed_prices
        on {{ usage_price_matches('events', 'changed_prices') }}
    {%- if by_local_date %}

    union all

    select events.org_id, events.event_at
    from {{ events }} as events
    where events.org_id in (select org_id from changed_timezones)
    {%- endif %}

),

touched as (

    select {{ spark__usage_bucket(bucket, 'changed_events.event_at', 'timezones.timezone') }} as bucket
    from changed_events
    {%- if by_local_date %}
    left join current_timezones as timezones
        on changed_events.org_id = timezones.org_id
    {%- endif %}
    {%- if by_local_date %}

    union

    select {{ spark__usage_bucket(bucket, 'changed_events.event_at', 'timezones.timezone') }} as bucket
    from changed_events
    left join applied_timezones as timezones
        on changed_events.org_id = timezones.org_id
    {%- endif %}

)

select distinct cast(bucket as string) as bucket from touched order by 1
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}
