{% test non_negative(model, column_name) %}
{#- Rows where the column is below zero (NULLs pass: test not_null separately). -#}
select {{ column_name }} as failing_value
from {{ model }}
where {{ column_name }} < 0
{% endtest %}
