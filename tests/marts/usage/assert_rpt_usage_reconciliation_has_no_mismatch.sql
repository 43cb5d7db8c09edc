-- Assert that every rollup agrees with the raw events for every organization and local date.
select
    org_id,
    usage_date,
    raw_request_count,
    daily_request_count,
    raw_hour_basis_request_count,
    hourly_request_count
from {{ ref('rpt_usage_reconciliation') }}
where status = 'mismatch'
