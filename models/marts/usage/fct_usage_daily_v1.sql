{{
    config(
        materialized='incremental',
        incremental_strategy=usage_incremental_strategy(),
        partition_by=usage_partition_by('usage_date'),
        on_schema_change='fail',
        unique_key=['usage_date', 'org_id', 'user_id', 'api_key_id', 'model_id'],
        nullable_unique_key=['user_id', 'api_key_id'],
        pre_hook=["{{ rollup_lock_watermark() }}"],
        post_hook=[
            "{{ rollup_record_state(prices=ref('int_model_prices_banded')) }}",
            "{{ usage_grain_index(['usage_date', 'org_id', 'user_id', 'api_key_id', 'model_id']) }}",
            "{{ usage_delta_rows_affected() }}",
        ],
    )
}}

{{
    usage_rollup(
        bucket_column='usage_date',
        bucket='utc_date',
        incremental=is_incremental(),
        run_id=invocation_id,
        events=ref('stg_platform__events'),
        voids=ref('stg_platform__voids'),
        load_batches=ref('stg_platform__load_batches'),
        prices=ref('int_model_prices_banded'),
        events_indexed=ref('int_events_indexed'),
    )
}}
