{% macro postgres__snapshot_get_time() -%}
    {#- Overrides dbt-postgres's `now()::timestamp without time zone`, which is the wall-clock time
        of the session's time zone: snapshot validity times would then depend on the session.
        A timestamptz is an instant, whatever the session's zone. -#}
    {{ current_timestamp() }}
{%- endmacro %}
