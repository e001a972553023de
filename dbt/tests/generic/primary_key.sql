{#-
    Fails for every value of the model's key that occurs more than once. The key is the
    model's primary_key constraint in its YAML (constraints: [{type: primary_key,
    columns: [...]}]), declared once: the publish step reads the same constraint.
-#}
{% test primary_key(model) %}
{%- set columns = [] -%}
{%- if execute -%}
    {#- model: the model's relation, or a query of it (a `where` config, the years a build
        replaced: macros/tests_of_built_years.sql), "(select * from <relation> where ...". -#}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.relation_name
        and (('(select * from ' ~ node.relation_name ~ ' where ') in model if model is string
             else node.alias == model.identifier and node.schema == model.schema) -%}
        {%- for constraint in node.constraints if constraint.type == 'primary_key' -%}
            {%- do columns.extend(constraint.columns) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if not columns -%}
        {{ exceptions.raise_compiler_error(
            "test primary_key: " ~ model.identifier ~ " declares no primary_key constraint") }}
    {%- endif -%}
{%- endif -%}
select {{ columns | join(', ') if columns else '1 as no_key' }}, count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') if columns else '1' }}
having count(*) > 1
{% endtest %}
