{% macro usage_local_date(timestamp, timezone) -%}
    {{ return(adapter.dispatch('usage_local_date', 'tally')(timestamp, timezone)) }}
{%- endmacro %}

{% macro default__usage_local_date(timestamp, timezone) -%}
    {#- The calendar date of an instant in an IANA time zone (DST and fractional offsets). -#}
    cast(({{ timestamp }} at time zone {{ timezone }}) as date)
{%- endmacro %}
