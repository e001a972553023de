{#-
    Fails for every column of the relation that could carry a student identity: marts are
    aggregate only (architecture.md), so none may hold a key, ID, name or birth date.
-#}
{% test has_no_student_columns(model) %}
{%- set forbidden = ['student_key', 'student_id', 'last_name', 'first_name', 'birth_date'] -%}
{%- set found = [] -%}
{#- model: the relation, or a query of it (macros/tests_of_built_years.sql). -#}
{%- if model is string -%}
    {%- set columns = get_columns_in_query('select * from ' ~ model) if execute else [] -%}
{%- else -%}
    {%- set columns = adapter.get_columns_in_relation(model) | map(attribute='name') | list -%}
{%- endif -%}
{%- for name in columns -%}
    {%- if name | lower in forbidden -%}{%- do found.append(name | lower) -%}{%- endif -%}
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
