{#-
    The value of one funding-formula parameter from the formula_parameters seed, as a
    scalar subquery, so a changed seed row changes the result on the next run.
-#}
{% macro formula_parameter(name) -%}
    (select cast(value as {{ dbt.type_float() }}) from {{ ref('formula_parameters') }}
     where parameter = '{{ name }}')
{%- endmacro %}
