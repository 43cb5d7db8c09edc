{% macro usage_hour_utc(timestamp) -%}
    {{ return(adapter.dispatch('usage_hour_utc', 'tally')(timestamp)) }}
{%- endmacro %}

{% macro default__usage_hour_utc(timestamp) -%}
    {#- The start of the UTC hour, whatever the session's time zone. -#}
    (date_trunc('hour', {{ timestamp }} at time zone 'UTC') at time zone 'UTC')
{%- endmacro %}

{% macro spark__usage_hour_utc(timestamp) -%}
    {#- Spark truncates in the session's time zone, which the profile sets to UTC. -#}
    date_trunc('HOUR', {{ timestamp }})
{%- endmacro %}
