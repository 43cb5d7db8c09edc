{{
    config(
        materialized='incremental',
        incremental_strategy=usage_incremental_strategy(),
        partition_by=usage_partition_by('usage_date'),
        on_schema_change='fail',
        unique_key=['usage_date', 'org_id', 'model_id'],
        pre_hook=["{{ rollup_lock_watermark() }}"],
        post_hook=[
            "{{ rollup_record_state(prices=ref('int_model_prices_banded'), organization_timezones=ref('int_organizations_versioned')) }}",
            "{{ usage_grain_index(['usage_date', 'org_id', 'model_id']) }}",
            "{{ usage_lookup_index('org_date', ['org_id', 'usage_date']) }}",
            "{{ usage_delta_rows_affected() }}",
        ],
    )
}}

-- The serving table: fct_usage_daily (latest version) summed over users and API keys, kept from
-- the same change set as the other rollups, with a state of its own. Built by the same query
-- with a shorter grain, so it equals those sums after every run (tested by usage_sums_match).
{{
    usage_rollup(
        bucket_column='usage_date',
        bucket='local_date',
        incremental=is_incremental(),
        run_id=invocation_id,
        events=ref('stg_platform__events'),
        voids=ref('stg_platform__voids'),
        load_batches=ref('stg_platform__load_batches'),
        prices=ref('int_model_prices_banded'),
        events_indexed=ref('int_events_indexed'),
        organization_timezones=ref('int_organizations_versioned'),
        dimensions=['org_id', 'model_id'],
    )
}}
