{% macro usage_rollup(bucket_column, bucket, incremental, run_id, events, voids, load_batches, prices, events_indexed, organization_timezones=none, dimensions=['org_id', 'user_id', 'api_key_id', 'model_id'], also_buckets=none) -%}
    {{ return(adapter.dispatch('usage_rollup', 'tally')(bucket_column, bucket, incremental, run_id, events, voids, load_batches, prices, events_indexed, organization_timezones, dimensions, also_buckets)) }}
{%- endmacro %}

{% macro postgres__usage_rollup(bucket_column, bucket, incremental, run_id, events, voids, load_batches, prices, events_indexed, organization_timezones, dimensions, also_buckets) -%}
    {#-
        The query of the usage rollups (fct_usage_hourly, fct_usage_daily_v*,
        fct_usage_daily_by_model): one row per (bucket, dimensions...) of every non-voided event
        loaded up to this run's upper commit_seq; dimensions default to org_id, user_id,
        api_key_id, model_id (the billing grain).

        Full refresh: the rows themselves. Incremental: signed deltas against what the table
        reflects (its watermark, price list and time zones in ops.rollup_*), for exactly the
        events whose contribution may have changed: events and voids loaded since the
        watermark, events under a price row that changed, events of an organization whose time
        zone changed. Each such event's old contribution is subtracted and its new one added;
        the `usage_delta` strategy merges the result. Events of any age count.

        bucket: 'utc_hour', 'utc_date', 'local_date' or 'local_date_of_utc_hour' (the local
        date of the UTC hour's start, the reconciliation's basis for the hourly rollup); the last
        two need organization_timezones.
        also_buckets: {column: bucket} of more buckets, each grouped by as a dimension of its
        own, so that one pass over the change set serves several bases (the reconciliation's).
        incremental, run_id: the model's is_incremental() and invocation_id, passed in so that
        unit tests can override them.
        Relations are referenced where they are used, not through import CTEs: PostgreSQL
        materialises a CTE used twice, which would read all events on every run.
    -#}
    {%- set also_buckets = also_buckets or {} -%}
    {%- set buckets = [bucket] + (also_buckets.values() | list) -%}
    {%- set by_local_date = 'local_date' in buckets or 'local_date_of_utc_hour' in buckets -%}
    {%- set dimensions = dimensions + (also_buckets.keys() | list) -%}
    {#- the table's name keys its state; a unit test's `this` is nameless, so its name comes
        from the tested node's id (model.tally.fct_usage_daily.v2 -> fct_usage_daily_v2) -#}
    {%- set tested_node = model.get('tested_node_unique_id') or '' -%}
    {%- set model_name = this.identifier or tested_node.split('.', 2)[-1].replace('.v', '_v') -%}
    {%- set new_batch_hint = none -%}
    {%- set change_hint = none -%}
    {%- if incremental and execute and not tested_node -%}
        {%- set new_batch_hint = usage_new_batch_ids(model_name, load_batches, run_id) -%}
        {%- set change_hint = usage_change_literals(
            model_name, run_id, load_batches, prices, organization_timezones, by_local_date) -%}
        {#- the lookup of price edits and time-zone changes must hold every event this table
            already counts (newer ones come in through their batches) -#}
        {%- set lookup_query -%}
            select
                coalesce((select applied_commit_seq from {{ source('rollup_state', 'rollup_watermarks') }}
                          where model_name = '{{ events_indexed.identifier }}'), -1)
                >= coalesce((select applied_commit_seq from {{ source('rollup_state', 'rollup_watermarks') }}
                             where model_name = '{{ model_name }}'), 0)
        {%- endset -%}
        {%- if not run_query(lookup_query).columns[0].values()[0] -%}
            {{ exceptions.raise_compiler_error(
                events_indexed.identifier ~ ' is behind ' ~ model_name
                ~ ': build it first (dbt build --select +' ~ model_name ~ ')') }}
        {%- endif -%}
    {%- endif -%}
    {%- set new_batch_literals = (new_batch_hint or ['null']) | join(', ') -%}
    {%- set measures = usage_measures() %}

with

run_bounds as (

    {{ usage_run_bounds(model_name, run_id, incremental) | indent(4) }}

),

{%- if by_local_date %}

current_timezones as (

    {{ usage_current_timezones(organization_timezones, run_id) | indent(4) }}

),
{%- endif %}

{%- if incremental %}

{{ usage_changes(model_name, load_batches, prices, by_local_date) }}

changed_events as (

    -- each kind of change fetches its own events, so that each branch is planned on its own:
    -- events of new batches, events of new voids, events under changed prices
    select
        events.*
    from {{ events }} as events
    where
        events.batch_id in (select new_batches.batch_id from new_batches)
        {%- if new_batch_hint is not none %}
        -- the same batches as literals, read when the model compiled (a superset: the filter
        -- above, read under the watermark lock, decides), so the planner sees their sizes
        and events.batch_id in ({{ new_batch_literals }})
        {%- endif %}

    union

    select
        events.*
    from {{ events }} as events
    -- = any(array(...)): the planner looks each voided event up by its key; a join or IN here
    -- scans every event (seen on PostgreSQL 18 through the staging view)
    where events.event_id = any(array(
        select voids.event_id
        from {{ voids }} as voids
        where
            voids.batch_id in (select new_batches.batch_id from new_batches)
            {%- if new_batch_hint is not none %}
            and voids.batch_id in ({{ new_batch_literals }})
            {%- endif %}
    ))

    union

    -- events under a changed price row, found by model and time in the lookup, then by key
    select
        events.*
    from {{ events }} as events
    where events.event_id = any(array(
        select indexed.event_id
        from {{ events_indexed }} as indexed
        inner join changed_prices
            on
                indexed.model_id = changed_prices.model_id
                and indexed.event_at >= changed_prices.effective_from
                and (changed_prices.effective_to is null or indexed.event_at < changed_prices.effective_to)
        {%- if change_hint is not none %}
        -- the same models and periods as literals, read when the model compiled (a superset:
        -- the join decides), so the planner reads the period through the (model_id, event_at)
        -- index instead of every event
        where
            {%- for model_id, since in change_hint.repriced %}
            (indexed.model_id = '{{ model_id | replace("'", "''") }}' and indexed.event_at >= '{{ since }}')
            {%- if not loop.last %} or{% endif %}
            {%- else %}
            false
            {%- endfor %}
        {%- endif %}
    ))
    {%- if by_local_date %}

    union

    -- events of an organization whose time zone changed, found in the lookup, then by key
    select
        events.*
    from {{ events }} as events
    where events.event_id = any(array(
        select indexed.event_id
        from {{ events_indexed }} as indexed
        where
            indexed.org_id in (select changed_timezones.org_id from changed_timezones)
            {%- if change_hint is not none %}
            -- the same organizations as literals, read when the model compiled, so the planner
            -- reads their rows through the org_id index instead of every event
            and indexed.org_id in (
                {%- for org_id, _ in change_hint.moved -%}
                '{{ org_id | replace("'", "''") }}'{{ ', ' if not loop.last }}
                {%- else -%}
                null
                {%- endfor -%}
            )
            {%- endif %}
    ))
    {%- endif %}

),
{%- endif %}

tracked_events as (

    {%- if incremental %}
    {{ usage_tracked_events('changed_events', voids, load_batches) | indent(4) }}
    {%- else %}
    {{ usage_tracked_events(events, voids, load_batches, bound='upper_commit_seq') | indent(4) }}
    {%- endif %}

),

contributions as (

    -- each tracked event: +1 for what it counts for as of this run's upper commit_seq and, on
    -- an incremental run, -1 for what it counted for as of the watermark, as the table reflects
    -- it (the applied prices and time zones)
    {%- set sides = [{'sign': 1, 'prices': prices, 'timezones': 'current_timezones',
                      'bound': 'upper_commit_seq'}] %}
    {%- if incremental %}
        {%- do sides.append({'sign': -1, 'prices': 'applied_prices',
                             'timezones': 'applied_timezones', 'bound': 'applied_commit_seq'}) %}
    {%- endif %}
    {%- for side in sides %}
    {%- if not loop.first %}

    union all
    {%- endif %}

    select
        {{ side.sign }} as sign,
        {{ usage_bucket(bucket, 'tracked_events.event_at', 'timezones.timezone') }} as bucket,
        {%- for column, also_bucket in also_buckets.items() %}
        {{ usage_bucket(also_bucket, 'tracked_events.event_at', 'timezones.timezone') }} as {{ column }},
        {%- endfor %}
        tracked_events.*,
        {{ usage_cost('tracked_events', 'prices') }} as cost_usd
    from tracked_events
    left join {{ side.prices }} as prices
        on {{ usage_price_matches('tracked_events', 'prices') }}
    {%- if by_local_date %}
    left join {{ side.timezones }} as timezones
        on tracked_events.org_id = timezones.org_id
    {%- endif %}
    where {{ usage_counted_as_of('tracked_events', side.bound) | indent(4) }}
    {%- endfor %}

),

grouped as (

    select
        {{ usage_summed_measures(bucket_column, dimensions, sign='sign') | indent(8) }}
    from contributions
    group by {{ range(1, dimensions | length + 2) | join(', ') }}

),

final as (

    select
        {{- usage_row_columns(bucket_column, dimensions) | indent(4) }}
    from grouped
    {%- if incremental %}
    where
        {%- for measure in measures %}
        {% if not loop.first %}or {% endif %}{{ measure.name }} != 0
        {%- endfor %}
    {%- endif %}

)

select * from final
{%- endmacro %}
