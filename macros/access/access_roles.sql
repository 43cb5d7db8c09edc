{% macro access_roles() -%}
    {#- The two reading roles of the contract (docs/reference.md, section 5): fixed names. -#}
    {{ return(['tally_analyst', 'tally_tenant']) }}
{%- endmacro %}
