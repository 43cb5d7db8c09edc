{% macro utc_instant(timestamp) -%}
    {{ return(adapter.dispatch('utc_instant', 'tally')(timestamp)) }}
{%- endmacro %}

{% macro default__utc_instant(timestamp) -%}
    {#- A timestamp without time zone that means UTC, as the instant it names. -#}
    {{ timestamp }} at time zone 'UTC'
{%- endmacro %}

{% macro spark__utc_instant(timestamp) -%}
    {#- Spark's timestamps are instants, shown and parsed in the session's zone (UTC, set by the
        profile): the seed's value is the instant already. -#}
    {{ timestamp }}
{%- endmacro %}
