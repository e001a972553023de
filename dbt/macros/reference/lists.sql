{#- Portable SQL (DuckDB, Spark, Postgres alike): no dispatch needed. -#}

{#- The integers 1..n as a relation with column n, for splitting delimited lists. -#}
{% macro integers_relation(count) -%}
    (
        {%- for i in range(1, count + 1) %}
        select {{ i }} as n{{ " union all" if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{#- A SQL list literal of the strings of a list var, e.g. ('1000', '2100'). -#}
{% macro sql_string_list(values) -%}
    ({%- for v in values %}'{{ v }}'{{ ", " if not loop.last }}{% endfor -%})
{%- endmacro %}
