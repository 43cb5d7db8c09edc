{#-
    ops.rollup_hourly_org_sums: fct_usage_hourly summed per organization and UTC hour, kept by
    the statements that change the hourly rollup. An incremental reconciliation reads the hours
    of the dates it rechecks from here: the hours the run touched were summed again from the
    table right after its merge, the others as they were when last touched. Reading the table
    itself would read every row of every touched date, most of the table when late events spread
    over the whole history. `tally verify` rebuilds the reconciliation from the table and compares
    these sums with it (tests/marts/usage/assert_rollup_hourly_org_sums_match_the_hourly_rollup.sql).
    The sums are kept on PostgreSQL only: Spark rebuilds its reconciliation from the table on
    every run, with the same select.
-#}

{% macro usage_hourly_org_sums_relation() -%}
    {{ return(source('rollup_state', 'rollup_hourly_org_sums')) }}
{%- endmacro %}

{% macro usage_hourly_org_sums_select(hourly, touched=none) -%}
    {#- The sums of `hourly` per (usage_hour, org_id), of the pairs in `touched` when given. -#}
    select
        hourly.usage_hour,
        hourly.org_id,
        {%- for measure in usage_measures() %}
        sum(hourly.{{ measure.name }}) as {{ measure.name }},
        {%- endfor %}
        count(hourly.cost_usd) as priced_row_count,
        count(*) as row_count,
        sum(hourly.cost_usd) as cost_usd
    from {{ hourly }} as hourly
    {%- if touched is not none %}
    inner join (select distinct usage_hour, org_id from {{ touched }}) as touched
        on hourly.usage_hour = touched.usage_hour and hourly.org_id = touched.org_id
    {%- endif %}
    group by 1, 2
{%- endmacro %}

{% macro usage_hourly_org_sums_exist() -%}
    {%- set found = run_query("select to_regclass('" ~ usage_hourly_org_sums_relation() ~ "') is not null") -%}
    {{ return(found.columns[0].values()[0]) }}
{%- endmacro %}

{% macro usage_hourly_org_sums_refresh(hourly, delta) -%}
    {#- In the hourly rollup's merge (get_incremental_usage_delta_sql): the hours its delta rows
        touched, summed again from the merged table; a pair left with no row is deleted. -#}
    {%- set sums = usage_hourly_org_sums_relation() %}
    delete from {{ sums }} as sums
    using (select distinct usage_hour, org_id from {{ delta }}) as touched
    where sums.usage_hour = touched.usage_hour and sums.org_id = touched.org_id;
    insert into {{ sums }}
    {{ usage_hourly_org_sums_select(hourly, touched=delta) }};
{%- endmacro %}

{% macro usage_hourly_org_sums_rebuild() -%}
    {{ return(adapter.dispatch('usage_hourly_org_sums_rebuild', 'tally')()) }}
{%- endmacro %}

{% macro postgres__usage_hourly_org_sums_rebuild() -%}
    {#- Post-hook of fct_usage_hourly: the sums rebuilt from the whole table when the table was
        (a full refresh) or when they are not there yet (a database from before them). Their
        columns follow usage_measures(). -#}
    {%- if execute and (not is_incremental() or not usage_hourly_org_sums_exist()) %}
    {%- set sums = usage_hourly_org_sums_relation() %}
    drop table if exists {{ sums }};
    create table {{ sums }} as
    {{ usage_hourly_org_sums_select(this) }};
    alter table {{ sums }} add primary key (org_id, usage_hour);
    analyze {{ sums }};
    {%- else %}
    select 1
    {%- endif %}
{%- endmacro %}

{% macro spark__usage_hourly_org_sums_rebuild() -%}
    select 1
{%- endmacro %}
