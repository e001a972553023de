{#-
    Year-partitioned models (decision 0025). A model whose school year Y is computed from its
    inputs' year-Y rows only (perkins_indicators, equity_gaps, int_student_groups, ...) is
    built incrementally on DuckDB: each build fingerprints every input per school year (row
    count and the XOR of a hash per row, hashed twice: DuckDB's hash of a row is linear in
    XOR, so rows swapping a value would cancel out; one fingerprint for an input without a
    school year, such as a seed), compares them with the fingerprints recorded when the model was
    last built, and rebuilds only the years whose inputs differ. The years' old rows are
    deleted and the new ones inserted in one transaction with the new fingerprints. A change
    of an input without a school year, of the project's code (CTE_DBT_CODE_VERSION, set by
    the Dagster resource) or a full refresh rebuilds every year; so does a build from the dbt
    command line without it. On Spark the same models are plain tables.

    Usage, in a year-local model (build_years() fingerprints once per build):
        {{ config(**year_partitioned()) }}
        {%- set years = build_years() -%}
        ... where {{ in_build_years('students.school_year', years) }}  (where inputs are read)
-#}

{% macro year_partitioned() -%}
    {%- do return({
        'materialized': 'incremental' if target.type == 'duckdb' else 'table',
        'incremental_strategy': 'replace_years',
        'post_hook': ["{{ record_year_fingerprints() }}"],
    }) -%}
{%- endmacro %}

{#- Created by the on-run-start hook: the fingerprints each model was last built from, and
    the fingerprints, the years (and, for a student-partitioned model, the students) of the
    build in progress. -#}
{% macro create_build_state() -%}
    {%- if target.type == 'duckdb' -%}
        create schema if not exists build_state;
        create table if not exists build_state.year_fingerprints (
            model varchar, input varchar, school_year integer, row_count bigint,
            fingerprint ubigint
        );
        create table if not exists build_state.pending_years (model varchar, school_year integer);
        create table if not exists build_state.pending_fingerprints (
            model varchar, input varchar, school_year integer, row_count bigint,
            fingerprint ubigint
        );
        create table if not exists build_state.pending_students (
            model varchar, student_key varchar
        );
        create table if not exists build_state.year_builds (
            invocation_id varchar, model varchar, school_year integer, built_at timestamp
        );
        -- What a build in progress keeps between a model's compile and its post-hook: a
        -- build that failed in between must not leave it to the next one.
        delete from build_state.pending_fingerprints;
        delete from build_state.pending_years;
        delete from build_state.pending_students;
    {%- endif -%}
{%- endmacro %}

{#- One row per input and school year (null: the input has no school year), and one for the
    code: what a year of this model is built from. -#}
{% macro _input_fingerprints() -%}
    {%- set parts = [
        "select 'code' as input, cast(null as integer) as school_year, 0 as row_count, hash('"
        ~ model.checksum.checksum ~ env_var('CTE_DBT_CODE_VERSION', '') ~ "') as fingerprint"
    ] -%}
    {%- for unique_id in model.depends_on.nodes -%}
        {%- set node = graph.nodes.get(unique_id) or graph.sources.get(unique_id) -%}
        {%- set relation = adapter.get_relation(
            database=node.database, schema=node.schema,
            identifier=node.alias or node.identifier) -%}
        {%- set columns = adapter.get_columns_in_relation(relation)
            | map(attribute='name') | map('lower') | list -%}
        {%- set year = 'school_year' if 'school_year' in columns else 'null' -%}
        {%- do parts.append(
            "select '" ~ unique_id ~ "' as input, cast(" ~ year ~ " as integer) as school_year,"
            ~ " count(*) as row_count, bit_xor(hash(hash(input_rows))) as fingerprint"
            ~ " from " ~ relation ~ " as input_rows group by all") -%}
    {%- endfor -%}
    {{ return(parts | join('\nunion all\n')) }}
{%- endmacro %}

{#- The school years whose inputs changed since the model was last built, and whether every
    year is to be rebuilt (a change of an input without a school year, of the code, no state
    recorded): [every, years], years every year known then. year_inputs (model names) limits
    the inputs a change of one year can be confined to: a change of any other counts as one
    of every year (macros/student_partitions.sql). The inputs' fingerprints are recorded
    first, for the post-hook. -#}
{% macro _changed_years(year_inputs=none) -%}
    {%- set year = 'coalesce(current_inputs.school_year, built.school_year)' -%}
    {%- set local_year = year -%}
    {%- if year_inputs is not none -%}
        {%- set ids = [] -%}
        {%- for unique_id in model.depends_on.nodes
            if unique_id.split('.')[-1] in year_inputs -%}
            {%- do ids.append("'" ~ unique_id ~ "'") -%}
        {%- endfor -%}
        {%- if ids | length != year_inputs | length -%}
            {%- do exceptions.raise_compiler_error(
                'year_inputs ' ~ year_inputs ~ ' are not all inputs of ' ~ model.unique_id) -%}
        {%- endif -%}
        {%- set local_year = 'case when coalesce(current_inputs.input, built.input) in ('
            ~ ids | join(', ') ~ ') then ' ~ year ~ ' end' -%}
    {%- endif -%}
    {%- do _record_pending_fingerprints() -%}
    {%- set query -%}
        with current_inputs as (
            select input, school_year, row_count, fingerprint
            from build_state.pending_fingerprints
            where model = '{{ model.unique_id }}'
        ),
        built as (
            select input, school_year, row_count, fingerprint
            from build_state.year_fingerprints
            where model = '{{ model.unique_id }}'
        ),
        changed as (
            select {{ year }} as school_year, {{ local_year }} as local_year
            from current_inputs
            full join built
                on built.input = current_inputs.input
                and built.school_year is not distinct from current_inputs.school_year
            where current_inputs.fingerprint is distinct from built.fingerprint
                or current_inputs.row_count is distinct from built.row_count
        ),
        every_year as (
            select school_year from current_inputs where school_year is not null
            union
            select school_year from built where school_year is not null
        ),
        everything as (
            select
                exists (select 1 from changed where local_year is null)
                or (select count(*) from built) = 0 as every
        )
        select every, school_year from everything left join every_year on every
        union
        select every, school_year from changed, everything
        where school_year is not null and not every
        order by school_year
    {%- endset -%}
    {%- set rows = run_query(query) -%}
    {%- set every = rows.columns[0].values() | select | list | length > 0 -%}
    {{ return([every, rows.columns[1].values() | reject('none') | list]) }}
{%- endmacro %}

{#- The school years this build of the model replaces, recorded in build_state.pending_years
    for the replace_years strategy; none when the model is built in full. -#}
{% macro build_years() -%}
    {#- A unit test renders the model on its fixture rows: in full. -#}
    {%- if not (execute and model.resource_type == 'model' and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set years = _changed_years()[1] -%}
    {%- do _record_pending_years(years) -%}
    {{ return(years) }}
{%- endmacro %}

{#- The fingerprints of the model's inputs now, in build_state.pending_fingerprints: what
    _changed_years records and compares and the post-hook copies, so an incremental build hashes its
    inputs once (a second or more for the largest, int_student_groups' 24 M rows at ten
    statewide years). The inputs do not change between the compile and the post-hook. A
    full build, whose inputs may not exist when it compiles (`dbt compile`, sqlfluff),
    leaves them to the post-hook. -#}
{% macro _record_pending_fingerprints() -%}
    {%- set id = model.unique_id -%}
    {%- do run_query(
        "delete from build_state.pending_fingerprints where model = '" ~ id ~ "';"
        ~ " insert into build_state.pending_fingerprints select '" ~ id ~ "', input,"
        ~ " school_year, row_count, fingerprint from (" ~ _input_fingerprints() ~ ")"
    ) -%}
{%- endmacro %}

{#- build_state.pending_years for the model: a row without a year marks the build as
    incremental for the post-hook, and one row per year it replaces. -#}
{% macro _record_pending_years(years) -%}
    {%- set rows = ["('" ~ model.unique_id ~ "', null)"] -%}
    {%- for year in years -%}
        {%- do rows.append("('" ~ model.unique_id ~ "', " ~ year ~ ")") -%}
    {%- endfor -%}
    {%- do run_query(
        "delete from build_state.pending_years where model = '" ~ model.unique_id ~ "';"
        ~ " insert into build_state.pending_years values " ~ rows | join(", ")
    ) -%}
{%- endmacro %}

{#- A filter on the school year column of a year-partitioned model's inputs: every row when
    the model is built in full (years none), the years build_years() returned otherwise. -#}
{% macro in_build_years(column, years) -%}
    {%- if years is none -%}
        true
    {%- elif years | length == 0 -%}
        false
    {%- else -%}
        {{ column }} in ({{ years | join(', ') }})
    {%- endif -%}
{%- endmacro %}

{#- The replace_years incremental strategy: the pending years' rows out, the new rows in. -#}
{% macro get_incremental_replace_years_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    delete from {{ target }}
    where school_year in (
        select school_year from build_state.pending_years where model = '{{ model.unique_id }}'
    );
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{%- endmacro %}

{#- Post-hook, in the model's transaction: the fingerprints this build used (recorded when an
    incremental build compiled; computed now after a full one), and the years it built in
    build_state.year_builds (every year of the model after a full build), with a row without
    a year that says the invocation built the model, even when no year changed (its tests
    then read no year: macros/tests_of_built_years.sql). -#}
{% macro record_year_fingerprints() -%}
    {%- if target.type == 'duckdb' -%}
        {%- set id = model.unique_id -%}
        {%- set recorded = execute and run_query(
            "select count(*) > 0 from build_state.pending_fingerprints where model = '" ~ id ~ "'"
        ).columns[0].values()[0] -%}
        delete from build_state.year_fingerprints where model = '{{ id }}';
        insert into build_state.year_fingerprints
        {% if recorded -%}
        select model, input, school_year, row_count, fingerprint
        from build_state.pending_fingerprints where model = '{{ id }}';
        {%- else -%}
        select '{{ id }}', input, school_year, row_count, fingerprint
        from ({{ _input_fingerprints() }});
        {%- endif %}
        delete from build_state.pending_fingerprints where model = '{{ id }}';
        insert into build_state.year_builds
        select '{{ invocation_id }}', '{{ id }}', school_year, now()
        from (
            select cast(null as integer) as school_year
            union all
            select school_year from build_state.pending_years
            where model = '{{ id }}'
                and school_year in (select school_year from {{ this }})
            union all
            select distinct school_year from {{ this }}
            where not exists (select 1 from build_state.pending_years where model = '{{ id }}')
        );
        delete from build_state.pending_years where model = '{{ id }}'
    {%- endif -%}
{%- endmacro %}
