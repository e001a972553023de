{#-
    Fails for every value of the model's key that occurs more than once. The key is the
    model's primary_key constraint in its YAML (constraints: [{type: primary_key,
    columns: [...]}]), declared once: the publish step reads the same constraint.
-#}
{% test primary_key(model) %}
{%- set columns = [] -%}
{%- if execute -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.relation_name
        and node.alias == model.identifier and node.schema == model.schema -%}
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
