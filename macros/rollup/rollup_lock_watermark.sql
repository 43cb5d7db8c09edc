{% macro rollup_lock_watermark() -%}
    {{ return(adapter.dispatch('rollup_lock_watermark', 'tally')()) }}
{%- endmacro %}

{% macro postgres__rollup_lock_watermark() -%}
    {#-
        Pre-hook, inside the model's transaction: locks the model's watermark row, so that two
        rollups running at once apply each change once (the second waits, then reads the
        watermark the first committed). An incremental run whose state is gone (ops dropped)
        stops rather than adding everything a second time.
    -#}
    {%- if is_incremental() %}
    do $$
    begin
        if not exists (select 1 from {{ source('rollup_state', 'rollup_watermarks') }} where model_name = '{{ this.identifier }}') then
            raise exception '% exists but its rollup state (ops.rollup_watermarks) is gone: rebuild it with --full-refresh', '{{ this }}';
        end if;
    end
    $$;
    {%- else %}
    insert into {{ source('rollup_state', 'rollup_watermarks') }} (model_name, applied_commit_seq)
    values ('{{ this.identifier }}', 0)
    on conflict (model_name) do nothing;
    {%- endif %}
    select applied_commit_seq from {{ source('rollup_state', 'rollup_watermarks') }}
    where model_name = '{{ this.identifier }}'
    for update
{%- endmacro %}

{% macro spark__rollup_lock_watermark() -%}
    {#-
        Spark has no locks: tally rollup runs one rollup at a time per warehouse (a lock file in
        local mode). An incremental run whose state is gone stops, as on PostgreSQL.
    -#}
    {%- if is_incremental() and execute %}
    {%- set found = run_query("select count(*) from " ~ source('rollup_state', 'rollup_watermarks') ~ " where model_name = '" ~ this.identifier ~ "'") %}
    {%- if found.columns[0].values()[0] == 0 %}
    {{ exceptions.raise_compiler_error(this ~ " exists but its rollup state (ops.rollup_watermarks) is gone: rebuild it with --full-refresh") }}
    {%- endif %}
    {%- endif %}
    select 1
{%- endmacro %}
