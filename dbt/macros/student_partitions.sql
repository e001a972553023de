{#-
    Student-partitioned models (decision 0049). A model whose rows for one student are
    computed from that student's rows of one input only, across every school year
    (int_student_years: the student's whole enrollment history), is built incrementally on
    DuckDB: the input's school years whose fingerprints changed (macros/year_partitions.sql)
    name the students to rebuild, the model's query reads those students' rows only, and
    their old rows are deleted and the new ones inserted in one transaction with the new
    fingerprints. A change of any other input, of the code, no recorded state or a full
    refresh rebuilds every student. On Spark the same models are plain tables.

    build_state.year_builds records the school years of the rows replaced (deleted or
    inserted), so the model's generic tests read those years (macros/tests_of_built_years.sql).

    Usage:
        {{ config(**student_partitioned()) }}
        {%- set years = student_build_years('stg_student_enrollment') -%}
        {%- set students = build_students(years, 'select student_key from ...') -%}
        ... where {{ in_build_students('enrollment.student_key', students) }}
-#}

{% macro student_partitioned() -%}
    {%- set settings = year_partitioned() -%}
    {%- if target.type == 'duckdb' -%}
        {%- do settings.update({'incremental_strategy': 'replace_students'}) -%}
    {%- endif -%}
    {%- do return(settings) -%}
{%- endmacro %}

{#- The school years of `input` (a model name) whose rows changed since the model was last
    built: none when every student is rebuilt (not incremental, or a change that is not
    confined to the input's years). Records the build as incremental for the post-hook. -#}
{% macro student_build_years(input) -%}
    {%- if not (execute and model.resource_type == 'model' and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set every, years = _changed_years(year_inputs=[input]) -%}
    {%- do _record_pending_years([]) -%}
    {%- do run_query(
        "delete from build_state.pending_students where model = '" ~ model.unique_id ~ "';"
        ~ (" insert into build_state.pending_students values ('" ~ model.unique_id ~ "', null)"
            if every else "")
    ) -%}
    {{ return(none if every else years) }}
{%- endmacro %}

{#- Records the students to rebuild (`affected`, a query of their student_key) in
    build_state.pending_students, and returns a value for in_build_students: none (every
    student) when years is none. -#}
{% macro build_students(years, affected) -%}
    {%- if years is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- do run_query(
        "insert into build_state.pending_students select distinct '" ~ model.unique_id
        ~ "', student_key from (" ~ affected ~ ")"
    ) -%}
    {{ return(model.unique_id) }}
{%- endmacro %}

{#- A filter on the student key of a student-partitioned model's input: every row when the
    model is built in full (students none), the students build_students() recorded. -#}
{% macro in_build_students(column, students) -%}
    {%- if students is none -%}
        true
    {%- else -%}
        {{ column }} in (
            select student_key from build_state.pending_students where model = '{{ students }}'
        )
    {%- endif -%}
{%- endmacro %}

{#- The replace_students incremental strategy: the pending students' rows out (every row
    after a change that is not confined to the students), the new rows in; the years of the
    rows replaced become the pending years the post-hook records. -#}
{% macro get_incremental_replace_students_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set temp_relation = arg_dict['temp_relation'] -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    {%- set id = model.unique_id -%}
    {%- set every = run_query(
        "select count(*) > 0 from build_state.pending_students"
        ~ " where model = '" ~ id ~ "' and student_key is null"
    ).columns[0].values()[0] -%}
    {%- set replaced -%}
        {%- if every -%}
            true
        {%- else -%}
            student_key in (
                select student_key from build_state.pending_students where model = '{{ id }}'
            )
        {%- endif -%}
    {%- endset -%}
    delete from build_state.pending_years where model = '{{ id }}' and school_year is not null;
    insert into build_state.pending_years
    select '{{ id }}', school_year from {{ target }} where {{ replaced }}
    union
    select '{{ id }}', school_year from {{ temp_relation }};
    delete from {{ target }} where {{ replaced }};
    delete from build_state.pending_students where model = '{{ id }}';
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ temp_relation }}
{%- endmacro %}
