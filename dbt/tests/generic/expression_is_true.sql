{#- Fails for every row where the boolean SQL expression is false or null (model or column level). -#}
{% test expression_is_true(model, expression, column_name=none) %}
select 1 as failing_row
from {{ model }}
where not coalesce({{ expression }}, false)
{% endtest %}
