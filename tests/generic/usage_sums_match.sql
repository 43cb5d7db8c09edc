{% test usage_sums_match(model, finer_model, grain) %}
-- Assert that every row of the model equals the sums of finer_model's rows over the model's
-- grain, measure by measure (cost_usd included), with no grain row on one side only.
with

served as (

    select * from {{ model }}

),

summed as (

    select
        {{ grain | join(',\n        ') }},
        {%- for measure in usage_measures() %}
        sum({{ measure.name }}) as {{ measure.name }},
        {%- endfor %}
        {{ usage_row_cost_usd('sum(priced_cost_usd)', 'sum(unpriced_request_count)') }} as cost_usd
    from {{ finer_model }}
    group by {{ grain | join(', ') }}

),

final as (

    select
        {%- for column in grain %}
        coalesce(served.{{ column }}, summed.{{ column }}) as {{ column }},
        {%- endfor %}
        served.request_count as served_request_count,
        summed.request_count as summed_request_count
    from served
    full outer join summed
        on
            {%- for column in grain %}
            {% if not loop.first %}and {% endif %}served.{{ column }} = summed.{{ column }}
            {%- endfor %}
    where
        {%- for measure in usage_measures() %}
        served.{{ measure.name }} is distinct from summed.{{ measure.name }} or
        {%- endfor %}
        served.cost_usd is distinct from summed.cost_usd

)

select * from final
{% endtest %}
