{% macro usage_row_cost_usd(priced_cost_usd, unpriced_request_count) -%}
    {{ return(adapter.dispatch('usage_row_cost_usd', 'tally')(priced_cost_usd, unpriced_request_count)) }}
{%- endmacro %}

{% macro default__usage_row_cost_usd(priced_cost_usd, unpriced_request_count) -%}
    {#- A rollup row's cost_usd: its priced cost when every request is priced, else NULL. -#}
    case when {{ unpriced_request_count }} = 0 then {{ priced_cost_usd }} end
{%- endmacro %}
