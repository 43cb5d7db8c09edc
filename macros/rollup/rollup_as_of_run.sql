{% macro rollup_as_of_run(valid_from, valid_to, run_id) -%}
    {#- A version valid at the upper commit_seq of run `run_id`: [valid_from, valid_to). -#}
    {{ valid_from }} <= (select upper_commit_seq from {{ source('rollup_state', 'rollup_runs') }} where invocation_id = '{{ run_id }}')
    and (
        {{ valid_to }} is null
        or {{ valid_to }} > (select upper_commit_seq from {{ source('rollup_state', 'rollup_runs') }} where invocation_id = '{{ run_id }}')
    )
{%- endmacro %}
