{% test usage_measures_are_consistent(model) %}
-- Assert that every usage row's measures agree with each other: counts add up, tokens add up,
-- and cost_usd is the priced cost exactly when every request of the row is priced.
select *
from {{ model }}
where not (
    request_count > 0
    and success_count >= 0
    and error_count >= 0
    and success_count + error_count = request_count
    and input_tokens >= 0
    and output_tokens >= 0
    and total_tokens = input_tokens + output_tokens
    and unpriced_request_count between 0 and request_count
    and (
        (unpriced_request_count = 0 and cost_usd = priced_cost_usd)
        or (unpriced_request_count > 0 and cost_usd is null)
    )
)
{% endtest %}
