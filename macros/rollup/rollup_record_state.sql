{% macro rollup_record_state(prices=none, organization_timezones=none) -%}
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
