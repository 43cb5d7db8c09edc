{% macro usage_event_lookup_indexes() -%}
    {{ return(adapter.dispatch('usage_event_lookup_indexes', 'tally')()) }}
{%- endmacro %}

{% macro postgres__usage_event_lookup_indexes() -%}
    {#-
        Post-hook of int_events_indexed: its grain (a unique index on event_id) and the B-tree
        indexes a price edit (model_id, event_at) and a time-zone change (org_id) look events
        up by. Built by sort after a full build; kept up to date row by row after each
        incremental append (the run's new events only). On a full refresh the table being
        replaced still holds the names: they are dropped first, as usage_grain_index does.
    -#}
    {%- for name, unique, columns in [('event', true, 'event_id'),
                                      ('model_time', false, 'model_id, event_at'),
                                      ('org', false, 'org_id')] %}
    {%- if not is_incremental() %}
    drop index if exists {{ this.schema }}.{{ this.identifier }}__{{ name }};
    {%- endif %}
    create {{ 'unique ' if unique }}index if not exists {{ this.identifier }}__{{ name }}
    on {{ this }} ({{ columns }});
    {%- endfor %}
{%- endmacro %}

{% macro spark__usage_event_lookup_indexes() -%}
    {#- Spark has no indexes (and its rollups find a bucket's events by partition). -#}
    select 1
{%- endmacro %}
