-- Assert that fct_usage_hourly counts every raw event and token exactly once.
with

raw_totals as (

    select
        count(*) as request_count,
        coalesce(sum(input_tokens), 0) as input_tokens,
        coalesce(sum(output_tokens), 0) as output_tokens
    from {{ source('platform', 'events') }}

),

rollup_totals as (

    select
        coalesce(sum(request_count), 0) as request_count,
        coalesce(sum(input_tokens), 0) as input_tokens,
        coalesce(sum(output_tokens), 0) as output_tokens
    from {{ ref('fct_usage_hourly') }}

)

select
    raw_totals.*,
    rollup_totals.request_count as rollup_request_count,
    rollup_totals.input_tokens as rollup_input_tokens,
    rollup_totals.output_tokens as rollup_output_tokens
from raw_totals
cross join rollup_totals
where
    raw_totals.request_count != rollup_totals.request_count
    or raw_totals.input_tokens != rollup_totals.input_tokens
    or raw_totals.output_tokens != rollup_totals.output_tokens
