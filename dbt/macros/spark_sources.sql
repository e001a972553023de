{#-
    Register the raw sources over Parquet for Spark (docs/scale-out.md). dbt-spark ignores a
    source's external location, so each raw table becomes an external Spark table over the
    folder dagster_project.scaleout exported it to: <raw location>/<table>/*.parquet. Run as
    an on-run-start hook (and by `dbt run-operation spark_sources`); on other adapters the
    raw schema is already a schema of the warehouse and this does nothing.

    Tables are dropped and created again on every run (dropping an external table leaves its
    files alone) so a column added to an extract reaches Spark's catalog, and no stale file
    listing survives from an earlier run.
-#}
{% macro spark_sources() -%}
    {{ return(adapter.dispatch('spark_sources', 'nm_cte')()) }}
{%- endmacro %}

{% macro default__spark_sources() -%}{%- endmacro %}

{% macro spark__spark_sources() -%}
    {%- if execute -%}
        {%- set location = env_var(
            'CTE_SPARK_RAW_LOCATION', env_var('CTE_SPARK_DIR', '../warehouse/spark') ~ '/raw'
        ) -%}
        {%- set schemas = [] -%}
        {%- for node in graph.sources.values() if node.source_name == 'raw' -%}
            {%- if node.schema not in schemas -%}
                {%- do run_query('create database if not exists ' ~ node.schema) -%}
                {%- do schemas.append(node.schema) -%}
            {%- endif -%}
            {%- set relation = node.schema ~ '.' ~ node.identifier -%}
            {%- do run_query('drop table if exists ' ~ relation) -%}
            {%- do run_query(
                'create table ' ~ relation ~ " using parquet location '"
                ~ location ~ '/' ~ node.identifier ~ "'"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
