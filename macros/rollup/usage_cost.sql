{% macro usage_cost(events, prices) -%}
    {{ return(adapter.dispatch('usage_cost', 'tally')(events, prices)) }}
{%- endmacro %}

{% macro default__usage_cost(events, prices) -%}
    {#-
        An event's cost in USD (contract section 3): input tokens neither read from nor written
        to the cache at the input price, cache reads and writes at theirs, output tokens that are
        not reasoning at the output price, reasoning tokens at theirs. Exact: bigint times
        numeric keeps every digit, and multiplying by 0.000001 does too, where dividing by 1e6
        would round. An event without the breakdowns (all 0) costs input * input price + output
        * output price, as before they existed.
    -#}
    (
        ({{ events }}.input_tokens - {{ events }}.cache_read_input_tokens - {{ events }}.cache_write_input_tokens)
            * {{ prices }}.input_usd_per_1m
        + {{ events }}.cache_read_input_tokens * {{ prices }}.cache_read_usd_per_1m
        + {{ events }}.cache_write_input_tokens * {{ prices }}.cache_write_usd_per_1m
        + ({{ events }}.output_tokens - {{ events }}.reasoning_tokens) * {{ prices }}.output_usd_per_1m
        + {{ events }}.reasoning_tokens * {{ prices }}.reasoning_usd_per_1m
    ) * 0.000001
{%- endmacro %}

{% macro spark__usage_cost(events, prices) -%}
    {#- As default__, with the token counts as decimals: the profile turns Spark's rounding of
        wide decimals off (spark.sql.decimalOperations.allowPrecisionLoss), so every digit is
        kept or the query fails; it never rounds. -#}
    {%- set tokens = {} -%}
    {%- for name in ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_write_input_tokens', 'reasoning_tokens'] -%}
        {%- do tokens.update({name: 'cast(' ~ events ~ '.' ~ name ~ ' as decimal(20, 0))'}) -%}
    {%- endfor -%}
    (
        ({{ tokens.input_tokens }} - {{ tokens.cache_read_input_tokens }} - {{ tokens.cache_write_input_tokens }})
            * {{ prices }}.input_usd_per_1m
        + {{ tokens.cache_read_input_tokens }} * {{ prices }}.cache_read_usd_per_1m
        + {{ tokens.cache_write_input_tokens }} * {{ prices }}.cache_write_usd_per_1m
        + ({{ tokens.output_tokens }} - {{ tokens.reasoning_tokens }}) * {{ prices }}.output_usd_per_1m
        + {{ tokens.reasoning_tokens }} * {{ prices }}.reasoning_usd_per_1m
    ) * 0.000001
{%- endmacro %}
