{{
    config(
        materialized='incremental',
        incremental_strategy='microbatch',
        event_time='usage_hour',
        batch_size='day',
        lookback=3,
        unique_key=['usage_hour', 'org_id', 'user_id', 'api_key_id', 'model_id'],
        begin=var('microbatch_begin'),
    )
}}

select
    date_trunc('hour', event_time at time zone 'UTC') at time zone 'UTC' as usage_hour,
    org_id,
    -- the merge of dbt-postgres' microbatch never matches NULL keys
    coalesce(user_id, '') as user_id,
    coalesce(api_key_id, '') as api_key_id,
    model_id,
    count(*) as request_count,
    sum(input_tokens + output_tokens) as total_tokens
from {{ source('platform', 'events') }}
group by 1, 2, 3, 4, 5
