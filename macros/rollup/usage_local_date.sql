{% macro usage_local_date(timestamp, timezone) -%}
    {{ return(adapter.dispatch('usage_local_date', 'tally')(timestamp, timezone)) }}
{%- endmacro %}

{% macro default__usage_local_date(timestamp, timezone) -%}
    {#- The calendar date of an instant in an IANA time zone (DST and fractional offsets). -#}
    cast(({{ timestamp }} at time zone {{ timezone }}) as date)
{%- endmacro %}

{% macro spark__usage_local_date(timestamp, timezone) -%}
    {#- from_utc_timestamp shifts the instant to the zone's wall clock (DST and fractional
        offsets), read in the session's zone, UTC (the profile sets it). -#}
    to_date(from_utc_timestamp({{ timestamp }}, {{ timezone }}))
{%- endmacro %}
