{{ config(**year_partitioned()) }}
{%- set years = build_years() -%}
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
        case scopes.program_scope
            when 'program' then students.is_numerator
            when 'cluster' then students.is_cluster_numerator
            else students.is_all_programs_numerator
        end as is_numerator,
        students.is_outcome_observed,
        students.is_final_status_revised
    from {{ ref('int_indicator_students') }} as students
    cross join {{ program_scopes_relation() }} as scopes
    where {{ in_build_years('students.school_year', years) }}
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
        max(case when is_numerator then 1 else 0 end) as is_numerator,
        max(case when is_outcome_observed then 1 else 0 end) as is_outcome_observed,
        max(case when is_final_status_revised then 1 else 0 end) as is_final_status_revised
    from scoped
    group by
        student_key, school_year, indicator_code, district_code, location_code,
        program_of_study_code, career_cluster
),

school_cells as (
    select
        {% for d in dims -%}
        {{ 'student_groups' if d in ['group_type', 'group_value'] else 'scoped_students' }}.{{ d }},
        {% endfor -%}
        scoped_students.district_code,
        scoped_students.location_code,
        sum(scoped_students.is_numerator) as numerator,
        sum(scoped_students.is_outcome_observed) as observed,
        sum(scoped_students.is_final_status_revised) as revised,
        count(*) as denominator
    from scoped_students
    inner join {{ ref('int_student_groups') }} as student_groups
        on student_groups.student_key = scoped_students.student_key
        and student_groups.school_year = scoped_students.school_year
    group by
        {% for d in dims -%}
        {{ 'student_groups' if d in ['group_type', 'group_value'] else 'scoped_students' }}.{{ d }},
        {% endfor -%}
        scoped_students.district_code,
        scoped_students.location_code
),

-- Summing school cells up to district and state is exact: a student is attributed to one
-- school per year.
leveled as (
    {{ roll_up_to_levels('school_cells', dims,
        ['numerator', 'observed', 'revised', 'denominator']) }}
),

-- A year's indicator is complete when the outcome of every student in it is observed.
completeness as (
    select
        school_year,
        indicator_code,
        min(case when is_outcome_observed then 1 else 0 end) = 1 as is_complete
    from {{ ref('int_indicator_students') }}
    where {{ in_build_years('school_year', years) }}
    group by school_year, indicator_code
),

targets as (
    select
        indicator_code,
        school_year,
        state_target
    from {{ ref('stg_performance_targets') }}
),

rated as (
    select
        leveled.*,
        {{ safe_rate('leveled.numerator', 'leveled.denominator') }} as rate,
        targets.state_target,
        completeness.is_complete,
        {{ is_history_complete('leveled.school_year') }} as is_history_complete
    from leveled
    inner join completeness
        on completeness.school_year = leveled.school_year
        and completeness.indicator_code = leveled.indicator_code
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
    case when indicator_code = '3S1' then cast(observed as {{ dbt.type_int() }}) end
        as placement_observed_leavers,
    case
        when indicator_code = '3S1' then {{ safe_rate('observed', 'denominator') }}
    end as placement_coverage_share,
    is_complete,
    revised > 0 as is_final_status_revised,
    is_history_complete,
    state_target,
    case
        when state_target is not null and is_complete
            then rate < {{ var('target_trigger_share') }} * state_target
    end as is_below_target_trigger
from rated
