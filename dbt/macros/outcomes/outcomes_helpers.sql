{#-
    Helpers of the outcome marts (issue 6). Written in SQL that DuckDB, Spark and Postgres
    accept alike (split_part, percentile_cont, plain arithmetic), so no dispatch is needed.
-#}

{#- The integers 1..n as a relation with column n, for splitting delimited lists. -#}
{% macro integers_relation(count) -%}
    (
        {%- for i in range(1, count + 1) %}
        select {{ i }} as n{{ " union all" if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{#-
    The value of one funding-formula parameter from the formula_parameters seed, as a
    scalar subquery, so a changed seed row changes the result on the next run.
-#}
{% macro formula_parameter(name) -%}
    (select cast(value as {{ dbt.type_float() }}) from {{ ref('formula_parameters') }}
     where parameter = '{{ name }}')
{%- endmacro %}

{#- A SQL list literal of the strings of a list var, e.g. ('1000', '2100'). -#}
{% macro sql_string_list(values) -%}
    ({%- for v in values %}'{{ v }}'{{ ", " if not loop.last }}{% endfor -%})
{%- endmacro %}

{#- Two-sided 95 percent normal quantile, used for the confidence intervals. -#}
{% macro z_95() -%}1.959963984540054{%- endmacro %}

{#-
    A district or school code read from a seed, as the three-character text the extracts
    carry. A seed column is typed by inference unless pinned, which turns '001' into 1;
    padding back makes the join right under either typing.
-#}
{% macro seed_code(column) -%}
    lpad(cast({{ column }} as {{ dbt.type_string() }}), 3, '0')
{%- endmacro %}

{#- An OEWS wage as the marts use it: BLS's '#' (at or above its cap, value blank) is the
    cap, var('oews_top_coded_annual_wage'); '*' and '**' stay null. -#}
{% macro oews_wage(wage, flag) -%}
    case when {{ flag }} = '#' then {{ var('oews_top_coded_annual_wage') }} else {{ wage }} end
{%- endmacro %}
