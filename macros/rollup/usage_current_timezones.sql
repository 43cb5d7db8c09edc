{% macro usage_current_timezones(organization_timezones, run_id) -%}
    {#- Each organization's time zone as of this run's upper commit_seq. -#}
    select
        org_id,
        timezone
    from {{ organization_timezones }}
    where {{ rollup_as_of_run('valid_from_commit_seq', 'valid_to_commit_seq', run_id) }}
{%- endmacro %}
