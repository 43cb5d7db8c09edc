{% test usage_measures_are_consistent(model) %}
-- Assert that every usage row's measures agree with each other: every summed measure is
-- non-negative, counts add up, tokens add up, the breakdowns stay within their totals (cache
-- reads and writes within input_tokens, reasoning within output_tokens), and cost_usd is the priced cost exactly when every
-- request of the row is priced.
select *
from {{ model }}
where not (
    request_count > 0
    {%- for measure in usage_measures() %}
    and {{ measure.name }} >= 0
    {%- endfor %}
    and success_count + error_count = request_count
    and total_tokens = input_tokens + output_tokens
    and cache_read_input_tokens + cache_write_input_tokens <= input_tokens
    and reasoning_tokens <= output_tokens
    and unpriced_request_count <= request_count
    and cost_usd is not distinct from {{ usage_row_cost_usd('priced_cost_usd', 'unpriced_request_count') }}
)
{% endtest %}
