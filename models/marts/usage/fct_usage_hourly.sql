{{
    config(
        materialized='incremental',
        incremental_strategy=usage_incremental_strategy(),
        partition_by=usage_partition_by('usage_hour'),
        on_schema_change='fail',
        unique_key=['usage_hour', 'org_id', 'user_id', 'api_key_id', 'model_id'],
        nullable_unique_key=['user_id', 'api_key_id'],
        hourly_org_sums=true,
        pre_hook=["{{ rollup_lock_watermark() }}"],
        post_hook=[
            "{{ rollup_record_state(prices=ref('int_model_prices_banded')) }}",
            "{{ usage_grain_index(['usage_hour', 'org_id', 'user_id', 'api_key_id', 'model_id']) }}",
            "{{ usage_delta_rows_affected() }}",
            "{{ usage_hourly_org_sums_rebuild() }}",
        ],
    )
}}

{{
    usage_rollup(
        bucket_column='usage_hour',
        bucket='utc_hour',
        incremental=is_incremental(),
        run_id=invocation_id,
        events=ref('stg_platform__events'),
        voids=ref('stg_platform__voids'),
        load_batches=ref('stg_platform__load_batches'),
        prices=ref('int_model_prices_banded'),
        events_indexed=ref('int_events_indexed'),
    )
}}
