{#-
    Perkins V secondary core indicators (1S1, 1S2, 2S1-2S3, 3S1, 4S1, 5S1-5S3) per
    reporting year, level (state, district, school), program of study / career cluster /
    ALL, and student group. Numerators and denominators count distinct students of
    int_indicator_students; school cells roll up to district and state by summing, which is
    exact because each student is attributed to one school per year.
-#}
{%- set dims = ['school_year', 'indicator_code', 'program_of_study_code', 'career_cluster',
                'group_type', 'group_value'] -%}

with scoped as (
    select
        students.student_key,
        students.school_year,
        students.indicator_code,
        students.district_code,
        students.location_code,
        {{ program_scope_columns('scopes', 'students') }},
        students.is_numerator
    from {{ ref('int_indicator_students') }} as students
    cross join {{ program_scopes_relation() }} as scopes
),

-- One row per student and program scope, so cells count rows instead of distinct keys (a
-- student in two programs of one cluster is one student of the cluster).
scoped_students as (
    select
        student_key,
        school_year,
        indicator_code,
        district_code,
        location_code,
        program_of_study_code,
        career_cluster,
        max(case when is_numerator then 1 else 0 end) as is_numerator
    from scoped
    group by student_key, school_year, indicator_code, district_code, location_code,
        program_of_study_code, career_cluster
),

school_cells as (
    select
        {% for d in dims %}{{ 'student_groups' if d in ['group_type', 'group_value'] else 'scoped_students' }}.{{ d }},
        {% endfor -%}
        scoped_students.district_code,
        scoped_students.location_code,
        sum(scoped_students.is_numerator) as numerator,
        count(*) as denominator
    from scoped_students
    inner join {{ ref('int_student_groups') }} as student_groups
        on student_groups.student_key = scoped_students.student_key
        and student_groups.school_year = scoped_students.school_year
    group by
        {% for d in dims %}{{ 'student_groups' if d in ['group_type', 'group_value'] else 'scoped_students' }}.{{ d }},
        {% endfor -%}
        scoped_students.district_code,
        scoped_students.location_code
),

leveled as (
    {{ roll_up_to_levels('school_cells', dims, ['numerator', 'denominator']) }}
),

targets as (
    select
        cast(indicator as {{ dbt.type_string() }}) as indicator_code,
        cast(school_year as {{ dbt.type_int() }}) as school_year,
        cast(state_target as {{ dbt.type_float() }}) as state_target
    from {{ ref('performance_targets') }}
),

rated as (
    select
        leveled.*,
        {{ safe_rate('leveled.numerator', 'leveled.denominator') }} as rate,
        targets.state_target
    from leveled
    left join targets
        on targets.indicator_code = leveled.indicator_code
        and targets.school_year = leveled.school_year
)

select
    school_year,
    indicator_code,
    level,
    entity_code,
    parent_entity_code,
    district_code,
    location_code,
    program_of_study_code,
    career_cluster,
    group_type,
    group_value,
    cast(numerator as {{ dbt.type_int() }}) as numerator,
    cast(denominator as {{ dbt.type_int() }}) as denominator,
    rate,
    state_target,
    case
        when state_target is not null
            then rate < {{ var('target_trigger_share') }} * state_target
    end as is_below_target_trigger
from rated
