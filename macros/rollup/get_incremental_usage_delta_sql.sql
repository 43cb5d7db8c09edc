{% macro get_incremental_usage_delta_sql(arg_dict) -%}
    {{ return(adapter.dispatch('get_incremental_usage_delta_sql', 'tally')(arg_dict)) }}
{%- endmacro %}

{% macro postgres__get_incremental_usage_delta_sql(arg_dict) -%}
    {#-
        The `usage_delta` incremental strategy: the model's incremental query returns signed
        deltas per grain row (counts and sums add, voided and re-priced events subtract). They
        are added to the matching rows; a row whose request_count reaches 0 is deleted; a grain
        row not yet present is inserted. Keys listed in `nullable_unique_key` match NULL to NULL.
    -#}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set keys = arg_dict['unique_key'] -%}
    {%- set nullable_keys = config.get('nullable_unique_key', []) -%}
    {%- set measures = [
        'request_count', 'success_count', 'error_count', 'input_tokens', 'output_tokens',
        'total_tokens', 'priced_cost_usd', 'unpriced_request_count',
    ] -%}
    {%- set columns = keys + measures + ['cost_usd'] -%}
    merge into {{ target }} as existing
    using {{ source }} as delta
    on
        {%- for key in keys %}
        {% if not loop.first %}and {% endif -%}
        {%- if key in nullable_keys -%}
        existing.{{ key }} is not distinct from delta.{{ key }}
        {%- else -%}
        existing.{{ key }} = delta.{{ key }}
        {%- endif -%}
        {%- endfor %}
    when matched and existing.request_count + delta.request_count = 0 then delete
    when matched then update set
        {%- for measure in measures %}
        {{ measure }} = existing.{{ measure }} + delta.{{ measure }},
        {%- endfor %}
        cost_usd = case
            when existing.unpriced_request_count + delta.unpriced_request_count = 0
                then existing.priced_cost_usd + delta.priced_cost_usd
        end
    when not matched then insert ({{ columns | join(', ') }})
    values (
        {%- for column in keys + measures %}delta.{{ column }}, {% endfor -%}
        case when delta.unpriced_request_count = 0 then delta.priced_cost_usd end
    )
{%- endmacro %}
