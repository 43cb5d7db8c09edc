{% macro usage_run_bounds(model_name, run_id, incremental) -%}
    {#- The commit_seq bounds of this run of a rollup: the run's upper commit_seq
        (ops.rollup_runs) and, on an incremental run, the table's watermark (0 before its first
        run and on a full refresh). -#}
    select
        runs.upper_commit_seq,
        {%- if incremental %}
        coalesce(watermarks.applied_commit_seq, 0) as applied_commit_seq
        {%- else %}
        0 as applied_commit_seq
        {%- endif %}
    from {{ source('rollup_state', 'rollup_runs') }} as runs
    left join {{ source('rollup_state', 'rollup_watermarks') }} as watermarks
        on watermarks.model_name = '{{ model_name }}'
    where runs.invocation_id = '{{ run_id }}'
{%- endmacro %}
