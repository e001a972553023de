{#-
    A district or school code read from a seed, as the three-character text the extracts
    carry. A seed column is typed by inference unless pinned, which turns '001' into 1;
    padding back makes the join right under either typing.
-#}
{% macro seed_code(column) -%}
    lpad(cast({{ column }} as {{ dbt.type_string() }}), 3, '0')
{%- endmacro %}
