{% macro rollup_record_state(prices=none, organization_timezones=none) -%}
    {{ return(adapter.dispatch('rollup_record_state', 'tally')(prices, organization_timezones)) }}
{%- endmacro %}

{% macro postgres__rollup_record_state(prices, organization_timezones) -%}
    {#-
        Post-hook, inside the model's transaction: records what the table now reflects (the
        run's upper commit_seq, the price list, the organizations' time zones as of that
        commit_seq), so the next incremental run computes exact deltas against it. It commits
        with the table's change or not at all: a run killed mid-way leaves the old state, and
        the next run repairs the table from there.
    -#}
    {%- set model_name = this.identifier -%}
    update {{ source('rollup_state', 'rollup_watermarks') }} as watermarks set
        applied_commit_seq = runs.upper_commit_seq,
        invocation_id = runs.invocation_id,
        applied_at = now()
    from {{ source('rollup_state', 'rollup_runs') }} as runs
    where
        runs.invocation_id = '{{ invocation_id }}'
        and watermarks.model_name = '{{ model_name }}';

    {%- if prices is not none %}

    delete from {{ source('rollup_state', 'rollup_applied_prices') }} where model_name = '{{ model_name }}';
    insert into {{ source('rollup_state', 'rollup_applied_prices') }}
        (model_name, {{ usage_price_columns() | join(', ') }})
    select '{{ model_name }}', {{ usage_price_columns() | join(', ') }}
    from {{ prices }};
    {%- endif %}

    {%- if organization_timezones is not none %}
    delete from {{ source('rollup_state', 'rollup_applied_timezones') }} where model_name = '{{ model_name }}';
    insert into {{ source('rollup_state', 'rollup_applied_timezones') }}
    select '{{ model_name }}', org_id, timezone
    from {{ organization_timezones }}
    where {{ rollup_as_of_run('valid_from_commit_seq', 'valid_to_commit_seq', invocation_id) }};
    {%- endif %}
{%- endmacro %}

{% macro spark__rollup_record_state(prices, organization_timezones) -%}
    {#-
        Post-hook: the same state as on PostgreSQL, each table partitioned by model_name and
        the model's partition replaced whole. The partition is named by the rows (dynamic
        overwrite, which the profile sets), not in the statement: Spark then stages each write
        in a folder of its own, so the rollups, built in parallel, can replace their partitions
        of one table at once. Without transactions the watermark is written last: a run killed
        before it leaves the old watermark, and the next run recomputes the same buckets and
        more (exact, since buckets are replaced whole). A model's state never shrinks to no
        rows (prices and organizations are only added), which a dynamic overwrite would not
        write.
    -#}
    {%- set model_name = this.identifier -%}
    {%- if execute %}
    {%- if prices is not none %}
    {%- call statement('record_applied_prices') %}
    insert overwrite table {{ source('rollup_state', 'rollup_applied_prices') }}
    partition (model_name)
    select {{ usage_price_columns() | join(', ') }}, '{{ model_name }}'
    from {{ prices }}
    {%- endcall %}
    {%- endif %}
    {%- if organization_timezones is not none %}
    {%- call statement('record_applied_timezones') %}
    insert overwrite table {{ source('rollup_state', 'rollup_applied_timezones') }}
    partition (model_name)
    select org_id, timezone, '{{ model_name }}'
    from {{ organization_timezones }}
    where {{ rollup_as_of_run('valid_from_commit_seq', 'valid_to_commit_seq', invocation_id) }}
    {%- endcall %}
    {%- endif %}
    {%- endif %}
    insert overwrite table {{ source('rollup_state', 'rollup_watermarks') }}
    partition (model_name)
    select upper_commit_seq, invocation_id, current_timestamp(), '{{ model_name }}'
    from {{ source('rollup_state', 'rollup_runs') }}
    where invocation_id = '{{ invocation_id }}'
{%- endmacro %}
