{% macro usage_reconciliation_drop_empty_rows() -%}
    {{ return(adapter.dispatch('usage_reconciliation_drop_empty_rows', 'tally')()) }}
{%- endmacro %}

{% macro default__usage_reconciliation_drop_empty_rows() -%}
    {#-
        Post-hook of rpt_usage_reconciliation: an incremental run rewrites every (org_id,
        usage_date) its change set touches, also those whose events were all voided or moved to
        another date; a row that no side counts any more is deleted, as a full refresh would not
        have it. Only the rows this run wrote can have become empty.
    -#}
    delete from {{ this }}
    where
        reconciled_by_invocation_id = '{{ invocation_id }}'
        {%- for measure in usage_measures() %}
        {%- for side in ['raw', 'daily', 'raw_hour_basis', 'hourly'] %}
        and {{ side }}_{{ measure.name }} = 0
        {%- endfor %}
        {%- endfor %}
{%- endmacro %}

{% macro spark__usage_reconciliation_drop_empty_rows() -%}
    {#-
        Spark rebuilds rpt_usage_reconciliation in full on every run (its parquet tables have no
        DELETE), and a full build has no row that no side counts: nothing to drop.
    -#}
    select 1
{%- endmacro %}
