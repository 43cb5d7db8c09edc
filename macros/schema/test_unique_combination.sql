{% test unique_combination(model, combination_of_columns) %}
{#- Rows whose combination of columns occurs more than once; NULLs compare equal (group by). -#}
with

grouped as (

    select
        {{ combination_of_columns | join(',\n        ') }},
        count(*) as row_count

    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}

)

select * from grouped
where row_count > 1
{% endtest %}
