{#-
    Fails for every column of the relation that could carry a student identity: marts are
    aggregate only (architecture.md), so none may hold a key, ID, name or birth date.
-#}
{% test has_no_student_columns(model) %}
{%- set forbidden = ['student_key', 'student_id', 'last_name', 'first_name', 'birth_date'] -%}
{%- set found = [] -%}
{%- for col in adapter.get_columns_in_relation(model) -%}
    {%- if col.name | lower in forbidden -%}{%- do found.append(col.name | lower) -%}{%- endif -%}
{%- endfor %}
select column_name
from (
    select cast(null as {{ dbt.type_string() }}) as column_name
    {%- for name in found %}
    union all select '{{ name }}' as column_name
    {%- endfor %}
) as student_columns
where column_name is not null
{% endtest %}
