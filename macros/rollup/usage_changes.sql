{% macro usage_changes(model_name, load_batches, prices, by_local_date) -%}
    {#-
        The CTEs of what changed since a rollup table's watermark, as its state in ops.rollup_*
        records what it reflects: new_batches (loaded since the watermark, up to this run's
        upper commit_seq), applied_prices and changed_prices (bands in exactly one of the
        applied and the current list, each narrowed to the period where the price it gives can
        differ: see changed_prices below) and, for a local-date rollup, applied_timezones and
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

changed_price_bands as (

    (
        select {{ price_columns | join(', ') }}, 'current' as side
        from {{ prices }}
        except
        select {{ price_columns | join(', ') }}, 'current' as side
        from applied_prices
    )
    union all
    (
        select {{ price_columns | join(', ') }}, 'applied' as side
        from applied_prices
        except
        select {{ price_columns | join(', ') }}, 'applied' as side
        from {{ prices }}
    )

),

-- Each changed band over the period where the price it gives can differ. A band whose twin on
-- the other side differs in one end of its period alone gives the same price over their common
-- period, so only the events between the two ends are re-priced: a price row appended for today
-- ends the band before it, which must not re-price that band's history. (An empty effective_to
-- is the open end: least() passes over it, and the period between an end and the open end is
-- open.) Any other change re-prices the band's whole period.
changed_prices as (

    select
        {%- for column in price_columns if column not in ('effective_from', 'effective_to') %}
        changed.{{ column }},
        {%- endfor %}
        case
            when same_start.side is not null
                then least(changed.effective_to, same_start.effective_to)
            when same_end.side is not null
                then least(changed.effective_from, same_end.effective_from)
            else changed.effective_from
        end as effective_from,
        case
            when same_start.side is not null and changed.effective_to is not null
                and same_start.effective_to is not null
                then greatest(changed.effective_to, same_start.effective_to)
            when same_start.side is not null then null
            when same_end.side is not null
                then greatest(changed.effective_from, same_end.effective_from)
            else changed.effective_to
        end as effective_to
    from changed_price_bands as changed
    left join changed_price_bands as same_start
        on
            same_start.side != changed.side
            and same_start.effective_from = changed.effective_from
            {%- for column in price_columns if column not in ('effective_from', 'effective_to') %}
            and same_start.{{ column }} is not distinct from changed.{{ column }}
            {%- endfor %}
    left join changed_price_bands as same_end
        on
            same_end.side != changed.side
            and same_end.effective_to is not distinct from changed.effective_to
            {%- for column in price_columns if column not in ('effective_from', 'effective_to') %}
            and same_end.{{ column }} is not distinct from changed.{{ column }}
            {%- endfor %}

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
