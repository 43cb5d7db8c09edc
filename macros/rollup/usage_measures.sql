{% macro usage_measures() -%}
    {#-
        The rollups' summed measures, the var `tally_usage_measures` of dbt_project.yml: a list
        of {name, data_type, per_event}. Every macro, model and test that names the measures
        loops over this list; the CLI reads the same var (cli/tally/measures.py).
    -#}
    {{ return(var('tally_usage_measures')) }}
{%- endmacro %}
