{% macro usage_changes(model_name, load_batches, prices, by_local_date) -%}
    {#-
        The CTEs of what changed since a rollup table's watermark, as its state in ops.rollup_*
        records what it reflects: new_batches (loaded since the watermark, up to this run's
        upper commit_seq), applied_prices and changed_prices (bands in exactly one of the
        applied and the current list: an edit of any price column, period or threshold
        re-prices the band's events) and, for a local-date rollup, applied_timezones and
        changed_timezones (no time zone counts as UTC). They read the CTEs run_bounds
        (usage_run_bounds) and, for a local date, current_timezones (usage_current_timezones).
        Each ends with a comma: the query's own CTEs follow.
    -#}
    {%- set price_columns = usage_price_columns() %}
new_batches as (

    select batch_id
    from {{ load_batches }}
    where
        commit_seq > (select applied_commit_seq from run_bounds)
        and commit_seq <= (select upper_commit_seq from run_bounds)

),

applied_prices as (

    select
        {{ price_columns | join(',\n        ') }}
    from {{ source('rollup_state', 'rollup_applied_prices') }}
    where model_name = '{{ model_name }}'

),

changed_prices as (

    (
        select {{ price_columns | join(', ') }}
        from {{ prices }}
        except
        select {{ price_columns | join(', ') }}
        from applied_prices
    )
    union all
    (
        select {{ price_columns | join(', ') }}
        from applied_prices
        except
        select {{ price_columns | join(', ') }}
        from {{ prices }}
    )

),
{%- if by_local_date %}

applied_timezones as (

    select
        org_id,
        timezone
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
{%- endmacro %}
