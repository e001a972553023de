{#-
    Date arithmetic that differs between engines, dispatched by adapter so the models run
    unchanged on DuckDB (default__) and Spark (spark__). Postgres and Trino accept the
    default__ forms (ANSI extract).
-#}

{#- The school year a date falls in: July 1 of Y-1 .. June 30 of Y is school year Y. -#}
{% macro school_year_of(date_expr) -%}
    {{ return(adapter.dispatch('school_year_of', 'nm_cte')(date_expr)) }}
{%- endmacro %}

{% macro default__school_year_of(date_expr) -%}
    (cast(extract(year from {{ date_expr }}) as integer)
        + case when extract(month from {{ date_expr }}) >= 7 then 1 else 0 end)
{%- endmacro %}

{% macro spark__school_year_of(date_expr) -%}
    (year({{ date_expr }}) + case when month({{ date_expr }}) >= 7 then 1 else 0 end)
{%- endmacro %}

{#-
    A calendar quarter as one integer (year * 4 + quarter - 1), so "the second quarter
    after the quarter of exit" is plain addition and comparisons need no date building.
-#}
{% macro quarter_index(date_expr) -%}
    {{ return(adapter.dispatch('quarter_index', 'nm_cte')(date_expr)) }}
{%- endmacro %}

{% macro default__quarter_index(date_expr) -%}
    (cast(extract(year from {{ date_expr }}) as integer) * 4
        + cast(extract(quarter from {{ date_expr }}) as integer) - 1)
{%- endmacro %}

{% macro spark__quarter_index(date_expr) -%}
    (year({{ date_expr }}) * 4 + quarter({{ date_expr }}) - 1)
{%- endmacro %}

{#- The same index for a (year, quarter) pair as wage records carry it. -#}
{% macro year_quarter_index(year_expr, quarter_expr) -%}
    (cast({{ year_expr }} as integer) * 4 + cast({{ quarter_expr }} as integer) - 1)
{%- endmacro %}

{#- A double-precision float (dbt.type_float() is a 4-byte float on DuckDB). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'nm_cte')()) }}
{%- endmacro %}

{% macro default__type_double() -%}double{%- endmacro %}

{% macro spark__type_double() -%}double{%- endmacro %}

{% macro postgres__type_double() -%}double precision{%- endmacro %}

{#- A share as a float; null when the denominator is zero so no cell divides by zero. -#}
{% macro safe_rate(numerator, denominator) -%}
    case when {{ denominator }} > 0
        then cast({{ numerator }} as {{ type_double() }}) / {{ denominator }} end
{%- endmacro %}
