{% macro usage_bucket(bucket, timestamp, timezone) -%}
    {#- An event's time bucket: 'utc_hour', 'utc_date', 'local_date' (in `timezone`, UTC where
        the organization has none) or 'local_date_of_utc_hour' (the local date of the UTC
        hour's start). The engines differ only in usage_hour_utc and usage_local_date. -#}
    {%- set zone = "coalesce(" ~ timezone ~ ", 'UTC')" -%}
    {%- if bucket == 'utc_hour' -%}
    {{ usage_hour_utc(timestamp) }}
    {%- elif bucket == 'utc_date' -%}
    {{ usage_local_date(timestamp, "'UTC'") }}
    {%- elif bucket == 'local_date_of_utc_hour' -%}
    {{ usage_local_date(usage_hour_utc(timestamp), zone) }}
    {%- else -%}
    {{ usage_local_date(timestamp, zone) }}
    {%- endif -%}
{%- endmacro %}
