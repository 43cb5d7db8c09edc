{% macro usage_price_columns() -%}
    {#-
        The columns of a price band (int_model_prices_banded) that decide what an event costs:
        what ops.rollup_applied_prices records per rollup table, and what an incremental run
        compares to find the bands that changed (any of them edited re-prices the band's events).
    -#}
    {{ return([
        'model_id', 'service_tier', 'effective_from', 'effective_to',
        'min_input_tokens', 'next_min_input_tokens',
        'input_usd_per_1m', 'output_usd_per_1m',
        'cache_read_usd_per_1m', 'cache_write_usd_per_1m', 'reasoning_usd_per_1m',
    ]) }}
{%- endmacro %}
