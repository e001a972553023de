{#-
    What a generic data test reads ({{ model }} in the test): dbt's documented hook,
    https://docs.getdbt.com/reference/resource-configs/where ("Custom logic"). Decision 0044.

    On DuckDB a generic test of one year- or student-partitioned model (decisions 0025,
    0049) reads the school years this invocation built (replaced), as build_state.year_builds recorded them, and the rows
    without a school year (never replaced by a build, so never trusted): a resubmission that
    rebuilt one year tests that year. A build that changed no year tests no year; a full
    build tests every year; a test whose model this invocation did not build (`dbt test` on
    its own) reads every row. The years not rebuilt were tested when they were built.

    Everything else is dbt's: a test of two models (relationships), a singular test, Spark.
    The test's own `where` config still applies, with `and`.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set years = _tested_years() -%}
    {%- if years is none -%}
        {%- do return(adapter.dispatch('get_where_subquery', 'dbt')(relation)) -%}
    {%- endif -%}
    {%- set filters = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do filters.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- if years | length == 0 -%}
        {%- do filters.append('school_year is null') -%}
    {%- else -%}
        {%- do filters.append(
            '(school_year in (' ~ years | join(', ') ~ ') or school_year is null)') -%}
    {%- endif -%}
    {%- do return(
        '(select * from ' ~ relation ~ ' where ' ~ filters | join(' and ') ~ ') dbt_subquery') -%}
{%- endmacro %}

{#- The school years the test's model was built for in this invocation: none (test every
    row) unless the test has one parent, a year-partitioned model this invocation built. -#}
{% macro _tested_years() -%}
    {%- if not (execute and target.type == 'duckdb' and model.resource_type == 'test'
        and model.depends_on.nodes | length == 1) -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set parent = graph.nodes.get(model.depends_on.nodes[0]) -%}
    {%- set partitioned = ['replace_years', 'replace_students'] -%}
    {%- if parent is none or parent.config.get('incremental_strategy') not in partitioned -%}
        {%- do return(none) -%}
    {%- endif -%}
    {#- A command that runs tests has run the on-run-start hook that creates the build state;
        `dbt compile`, `show` or `docs generate` have not, and build nothing. -#}
    {%- if flags.WHICH not in ['build', 'test', 'retry'] -%}
        {%- do return(none) -%}
    {%- endif -%}
    {#- One row per year built, and one without a year whenever the model was built. -#}
    {%- set built = run_query(
        "select distinct school_year from build_state.year_builds"
        ~ " where invocation_id = '" ~ invocation_id ~ "'"
        ~ " and model = '" ~ parent.unique_id ~ "' order by school_year"
    ).columns[0].values() | list -%}
    {%- if built | length == 0 -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set years = [] -%}
    {%- for year in built if year is not none -%}
        {%- do years.append(year) -%}
    {%- endfor -%}
    {%- do return(years) -%}
{%- endmacro %}
