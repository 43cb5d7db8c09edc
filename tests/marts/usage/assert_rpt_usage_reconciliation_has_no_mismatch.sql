-- Assert that every rollup agrees with the raw events for every organization and local date.
select *
from {{ ref('rpt_usage_reconciliation') }}
where status = 'mismatch'
