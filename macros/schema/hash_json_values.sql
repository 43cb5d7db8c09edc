{% macro hash_json_values(expression, keys) -%}
    {{ return(adapter.dispatch('hash_json_values', 'tally')(expression, keys)) }}
{%- endmacro %}

{% macro default__hash_json_values(expression, keys) -%}
    {#- Raised when a model using it runs, not when dbt parses the project: fct_audit_events is
        disabled on the spark target, yet parsed. -#}
    {%- if execute %}
    {{ exceptions.raise_compiler_error("tally: hash_json_values needs a JSON type; no "
        ~ target.type ~ " version yet") }}
    {%- endif %}
{%- endmacro %}

{% macro postgres__hash_json_values(expression, keys) -%}
    {#- The jsonb object with the values of the named top-level keys replaced by their keyed hash
        (hash_pii of the value as text, trimmed and lowercased as emails are everywhere); other
        keys as they were, NULL stays NULL. -#}
    case when {{ expression }} is not null then coalesce((
        select jsonb_object_agg(
            fields.key,
            case
                when fields.key in ('{{ keys | join("', '") }}')
                    and jsonb_typeof(fields.value) <> 'null'
                    then to_jsonb({{ hash_pii("lower(trim(fields.value #>> '{}'))") }})
                else fields.value
            end
        )
        from jsonb_each({{ expression }}) as fields
    ), '{}'::jsonb) end
{%- endmacro %}
