{% macro spark__usage_rollup(bucket_column, bucket, incremental, run_id, events, voids, load_batches, prices, events_indexed, organization_timezones, dimensions, also_buckets) -%}
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
    {%- if also_buckets -%}
        {{ exceptions.raise_compiler_error("usage_rollup's also_buckets serve PostgreSQL's incremental reconciliation: Spark rebuilds it in full") }}
    {%- endif -%}
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

    {{ usage_run_bounds(this.identifier, run_id, incremental=false) | indent(4) }}

),

{%- if bucket == 'local_date' %}

current_timezones as (

    {{ usage_current_timezones(organization_timezones, run_id) | indent(4) }}

),
{%- endif %}

tracked_events as (

    {{ usage_tracked_events(events, voids, load_batches, bound='upper_commit_seq') | indent(4) }}

),

counted_events as (

    select
        {{ usage_bucket(bucket, 'tracked_events.event_at', 'timezones.timezone') }} as bucket,
        tracked_events.*,
        {{ usage_cost('tracked_events', 'prices') }} as cost_usd
    from tracked_events
    left join {{ prices }} as prices
        on {{ usage_price_matches('tracked_events', 'prices') }}
    {%- if bucket == 'local_date' %}
    left join current_timezones as timezones
        on tracked_events.org_id = timezones.org_id
    {%- endif %}
    where {{ usage_counted_as_of('tracked_events', 'upper_commit_seq') | indent(4) }}

),

grouped as (

    select
        {{ usage_summed_measures(bucket_column, dimensions) | indent(8) }}
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
        {{- usage_row_columns(bucket_column, dimensions) | indent(4) }}
    from grouped

)

select * from final
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

    {{ usage_run_bounds(model_name, run_id, incremental=true) | indent(4) }}

),

{%- if by_local_date %}

current_timezones as (

    {{ usage_current_timezones(organization_timezones, run_id) | indent(4) }}

),
{%- endif %}

{{ usage_changes(model_name, load_batches, prices, by_local_date) }}

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
    {%- for timezones in (['current_timezones', 'applied_timezones'] if by_local_date else [none]) %}
    {%- if not loop.first %}

    union
    {%- endif %}

    select {{ usage_bucket(bucket, 'changed_events.event_at', 'timezones.timezone') }} as bucket
    from changed_events
    {%- if timezones %}
    left join {{ timezones }} as timezones
        on changed_events.org_id = timezones.org_id
    {%- endif %}
    {%- endfor %}

)

select distinct cast(bucket as string) as bucket from touched order by 1
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}
