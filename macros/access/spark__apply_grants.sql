{% macro spark__apply_grants(relation, grant_config, should_revoke=True) -%}
    {#- On Spark, access is the warehouse's (its catalog's or storage's permissions): the
        PostgreSQL roles of the models' `grants` do not exist there, so none are applied. -#}
{%- endmacro %}
