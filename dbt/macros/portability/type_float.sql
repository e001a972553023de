{#-
    dbt.type_float() as a double on every adapter. DuckDB and Spark map `float` to 4 bytes,
    and then disagree on what arithmetic does with it: DuckDB keeps computing in single
    precision (spending per student, means and variances to about 7 significant digits, a
    $40 million budget exact only to $4), Spark widens to double. So the same model gave
    different numbers on the two engines. Postgres and Trino already read `float` as double.
    dbt looks for <adapter>__type_float in the root project before its own.
-#}
{% macro duckdb__type_float() -%}double{%- endmacro %}

{% macro spark__type_float() -%}double{%- endmacro %}
