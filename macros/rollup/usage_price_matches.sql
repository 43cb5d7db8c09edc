{% macro usage_price_matches(events, prices) -%}
    {#-
        The join condition of an event and the price band that bills it (int_model_prices_banded):
        its model and service tier, its event_at within the band's period and its input_tokens
        within the band's threshold range. At most one band matches; none: the event is unpriced.
    -#}
    {{ events }}.model_id = {{ prices }}.model_id
    and {{ events }}.service_tier = {{ prices }}.service_tier
    and {{ events }}.event_at >= {{ prices }}.effective_from
    and ({{ prices }}.effective_to is null or {{ events }}.event_at < {{ prices }}.effective_to)
    and {{ events }}.input_tokens >= {{ prices }}.min_input_tokens
    and ({{ prices }}.next_min_input_tokens is null or {{ events }}.input_tokens < {{ prices }}.next_min_input_tokens)
{%- endmacro %}
