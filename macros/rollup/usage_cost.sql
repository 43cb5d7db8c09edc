{% macro usage_cost(input_tokens, output_tokens, input_usd_per_1m, output_usd_per_1m) -%}
    {{ return(adapter.dispatch('usage_cost', 'tally')(input_tokens, output_tokens, input_usd_per_1m, output_usd_per_1m)) }}
{%- endmacro %}

{% macro default__usage_cost(input_tokens, output_tokens, input_usd_per_1m, output_usd_per_1m) -%}
    {#- Exact: multiplying by 0.000001 keeps every digit, where dividing by 1e6 would round. -#}
    ({{ input_tokens }} * {{ input_usd_per_1m }} + {{ output_tokens }} * {{ output_usd_per_1m }}) * 0.000001
{%- endmacro %}

{% macro spark__usage_cost(input_tokens, output_tokens, input_usd_per_1m, output_usd_per_1m) -%}
    {#- As default__, in decimals: the profile turns Spark's rounding of wide decimals off
        (spark.sql.decimalOperations.allowPrecisionLoss), so every digit is kept or the query
        fails; it never rounds. -#}
    (cast({{ input_tokens }} as decimal(20, 0)) * {{ input_usd_per_1m }}
     + cast({{ output_tokens }} as decimal(20, 0)) * {{ output_usd_per_1m }}) * 0.000001
{%- endmacro %}
