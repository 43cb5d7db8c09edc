{% macro get_incremental_usage_delta_sql(arg_dict) -%}
    {{ return(adapter.dispatch('get_incremental_usage_delta_sql', 'tally')(arg_dict)) }}
{%- endmacro %}

{% macro postgres__get_incremental_usage_delta_sql(arg_dict) -%}
    {#-
        The `usage_delta` incremental strategy: the model's incremental query returns signed
        deltas per grain row (counts and sums add, voided and re-priced events subtract). Every
        measure of usage_measures() is added to the matching row and cost_usd derived again; a
        row whose request_count reaches 0 is deleted; a grain row not yet present is inserted.
        Keys listed in `nullable_unique_key` match NULL to NULL.

        One MERGE per pattern of NULLs in the nullable keys (NULL or not in each), so that every
        key is an index condition (`=` or `is null`): `is not distinct from` is not indexable, and
        a lookup on the other keys alone reads every row of an organization's hour. Each MERGE
        takes its delta rows in the grain index's order. A model configured with
        `hourly_org_sums=true` (fct_usage_hourly) then sums the hours it touched again into
        ops.rollup_hourly_org_sums (usage_hourly_org_sums.sql), in the same transaction.
    -#}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set keys = arg_dict['unique_key'] -%}
    {%- set nullable_keys = config.get('nullable_unique_key', []) -%}
    {%- set measures = usage_measures() | map(attribute='name') | list -%}
    {%- set columns = keys + measures + ['cost_usd'] -%}
    -- statistics for dbt's temporary relation: without them the planner guesses its size low
    -- and hashes the whole table instead of looking each delta row up in the grain index
    analyze {{ source }};
    {%- for pattern in range(2 ** (nullable_keys | length)) %}
    {%- set null_keys = [] -%}
    {%- for key in nullable_keys -%}
        {%- if (pattern // 2 ** loop.index0) % 2 == 1 -%}
            {%- do null_keys.append(key) -%}
        {%- endif -%}
    {%- endfor %}
    merge into {{ target }} as existing
    using (
        select * from {{ source }}
        {%- if nullable_keys %}
        where
            {%- for key in nullable_keys %}
            {% if not loop.first %}and {% endif -%}
            {{ key }} is {{ '' if key in null_keys else 'not ' }}null
            {%- endfor %}
        {%- endif %}
        order by {{ keys | join(', ') }}
    ) as delta
    on
        {%- for key in keys %}
        {% if not loop.first %}and {% endif -%}
        {%- if key in null_keys -%}
        existing.{{ key }} is null
        {%- else -%}
        existing.{{ key }} = delta.{{ key }}
        {%- endif -%}
        {%- endfor %}
    when matched and existing.request_count + delta.request_count = 0 then delete
    when matched then update set
        {%- for measure in measures %}
        {{ measure }} = existing.{{ measure }} + delta.{{ measure }},
        {%- endfor %}
        cost_usd = {{ usage_row_cost_usd(
            'existing.priced_cost_usd + delta.priced_cost_usd',
            'existing.unpriced_request_count + delta.unpriced_request_count') }}
    when not matched then insert ({{ columns | join(', ') }})
    values (
        {%- for column in keys + measures %}delta.{{ column }}, {% endfor -%}
        {{ usage_row_cost_usd('delta.priced_cost_usd', 'delta.unpriced_request_count') }}
    );
    {%- endfor %}
    {%- if config.get('hourly_org_sums', false) and usage_hourly_org_sums_exist() %}
    {{ usage_hourly_org_sums_refresh(target, source) }}
    {%- endif %}
{%- endmacro %}

{% macro spark__get_incremental_usage_delta_sql(arg_dict) -%}
    {#- Spark's rollups replace partitions (spark__usage_incremental_strategy), never merge. -#}
    {{ exceptions.raise_compiler_error("the usage_delta strategy needs MERGE: on Spark the rollups use insert_overwrite (usage_incremental_strategy)") }}
{%- endmacro %}
