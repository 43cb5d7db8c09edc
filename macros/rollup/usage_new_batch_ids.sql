{% macro usage_new_batch_ids(model_name, load_batches, run_id) -%}
    {#-
        The ids of the load batches a table has not rolled up yet (above its watermark, up to the
        run's upper bound), read when the model runs. A model filters its new events with them as
        literals beside the same condition in SQL: with a subquery alone, PostgreSQL plans for an
        unknown list of batches and reads every event instead of the new batches' pages through
        the BRIN index on batch_id, a cost that grows with history.
    -#}
    {%- set query -%}
        select batch_id from {{ load_batches }}
        where
            commit_seq > coalesce((select applied_commit_seq from {{ source('rollup_state', 'rollup_watermarks') }}
                                   where model_name = '{{ model_name }}'), 0)
            and commit_seq <= (select upper_commit_seq from {{ source('rollup_state', 'rollup_runs') }}
                               where invocation_id = '{{ run_id }}')
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}
