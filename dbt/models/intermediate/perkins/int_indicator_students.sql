with concentrators as (
    select
        programs.student_key,
        programs.school_year,
        programs.program_of_study_code,
        programs.career_cluster,
        programs.nontraditional_for,
        spine.district_code,
        spine.location_code,
        spine.sex,
        spine.cohort_year,
        spine.exit_code,
        spine.exit_date,
        spine.exit_school_year,
        spine.final_exit_code,
        spine.final_exit_school_year,
        spine.is_final_status_revised,
        spine.is_enrolled_hs,
        spine.has_left_in_year,
        spine.has_graduated_in_year
    from {{ ref('int_program_concentration') }} as programs
    inner join {{ ref('int_student_years') }} as spine
        on spine.student_key = programs.student_key
        and spine.school_year = programs.school_year
    where programs.is_concentrator
),

graduates as (
    select distinct
        student_key,
        school_year,
        exit_date
    from concentrators
    where has_graduated_in_year
),

-- 2S1-2S3: the latest high-school result in each subject, from a school year up to Y in
-- which the student was enrolled in grades 9-12 (a grade-8 result does not count).
latest_assessments as (
    select
        student_key,
        school_year,
        subject,
        is_proficient
    from (
        select
            graduates.student_key,
            graduates.school_year,
            results.subject,
            results.is_proficient,
            row_number() over (
                partition by graduates.student_key, graduates.school_year, results.subject
                order by results.school_year desc
            ) as result_rank
        from graduates
        inner join {{ ref('stg_assessment_results') }} as results
            on results.student_key = graduates.student_key
            and results.school_year <= graduates.school_year
        inner join {{ ref('int_student_years') }} as result_years
            on result_years.student_key = results.student_key
            and result_years.school_year = results.school_year
        where result_years.is_enrolled_hs
    ) as ranked_results
    where result_rank = 1
),

-- 5S1: a verified credential earned on or before the exit date.
credentials_by_exit as (
    select
        graduates.student_key,
        graduates.school_year
    from graduates
    inner join {{ ref('stg_credential_attainment') }} as attainment
        on attainment.student_key = graduates.student_key
        and attainment.earned_date <= graduates.exit_date
    where attainment.is_verified
    group by graduates.student_key, graduates.school_year
),

-- 5S2 at program and cluster level: a completed dual-credit course of that program or
-- cluster, in a high-school year up to Y (int_student_milestones has any such course).
dual_credit_courses as (
    select distinct
        graduates.student_key,
        graduates.school_year,
        courses.program_of_study_code,
        courses.career_cluster
    from graduates
    inner join {{ ref('int_course_completions') }} as courses
        on courses.student_key = graduates.student_key
        and courses.school_year <= graduates.school_year
    where courses.is_completed
        and courses.is_dual_credit
        and courses.is_high_school_year
),

milestones as (
    select * from {{ ref('int_student_milestones') }}
),

exit_cohorts as (
    select * from {{ ref('int_exit_cohorts') }}
),

indicator_rows as (
    select
        student_key,
        school_year,
        '1S1' as indicator_code,
        program_of_study_code,
        career_cluster,
        district_code,
        location_code,
        final_exit_code = 'GRADUATED' and final_exit_school_year <= school_year as is_numerator,
        cast(null as {{ dbt.type_boolean() }}) as is_cluster_numerator,
        cast(null as {{ dbt.type_boolean() }}) as is_all_programs_numerator,
        true as is_outcome_observed,
        is_final_status_revised
    from concentrators
    where cohort_year = school_year
        and final_exit_code is distinct from 'TRANSFERRED_OUT'

    union all

    select
        student_key,
        school_year,
        '1S2' as indicator_code,
        program_of_study_code,
        career_cluster,
        district_code,
        location_code,
        final_exit_code = 'GRADUATED' and final_exit_school_year <= school_year as is_numerator,
        cast(null as {{ dbt.type_boolean() }}) as is_cluster_numerator,
        cast(null as {{ dbt.type_boolean() }}) as is_all_programs_numerator,
        true as is_outcome_observed,
        is_final_status_revised
    from concentrators
    where cohort_year = school_year - 1
        and final_exit_code is distinct from 'TRANSFERRED_OUT'

    union all

    select
        concentrators.student_key,
        concentrators.school_year,
        case latest_assessments.subject
            when 'RLA' then '2S1'
            when 'MATH' then '2S2'
            else '2S3'
        end as indicator_code,
        concentrators.program_of_study_code,
        concentrators.career_cluster,
        concentrators.district_code,
        concentrators.location_code,
        latest_assessments.is_proficient as is_numerator,
        cast(null as {{ dbt.type_boolean() }}) as is_cluster_numerator,
        cast(null as {{ dbt.type_boolean() }}) as is_all_programs_numerator,
        true as is_outcome_observed,
        false as is_final_status_revised
    from concentrators
    inner join latest_assessments
        on latest_assessments.student_key = concentrators.student_key
        and latest_assessments.school_year = concentrators.school_year
    where concentrators.has_graduated_in_year
        and latest_assessments.subject in ('RLA', 'MATH', 'SCI')

    union all

    select
        concentrators.student_key,
        concentrators.school_year,
        '3S1' as indicator_code,
        concentrators.program_of_study_code,
        concentrators.career_cluster,
        concentrators.district_code,
        concentrators.location_code,
        exit_cohorts.is_placed as is_numerator,
        cast(null as {{ dbt.type_boolean() }}) as is_cluster_numerator,
        cast(null as {{ dbt.type_boolean() }}) as is_all_programs_numerator,
        exit_cohorts.is_placement_observed as is_outcome_observed,
        false as is_final_status_revised
    from concentrators
    inner join exit_cohorts
        on exit_cohorts.student_key = concentrators.student_key
        and exit_cohorts.school_year = concentrators.school_year

    union all

    select
        student_key,
        school_year,
        '4S1' as indicator_code,
        program_of_study_code,
        career_cluster,
        district_code,
        location_code,
        sex = nontraditional_for as is_numerator,
        cast(null as {{ dbt.type_boolean() }}) as is_cluster_numerator,
        cast(null as {{ dbt.type_boolean() }}) as is_all_programs_numerator,
        true as is_outcome_observed,
        false as is_final_status_revised
    from concentrators
    where is_enrolled_hs
        and nontraditional_for in ('F', 'M')
        and sex in ('F', 'M')

    union all

    select
        concentrators.student_key,
        concentrators.school_year,
        '5S1' as indicator_code,
        concentrators.program_of_study_code,
        concentrators.career_cluster,
        concentrators.district_code,
        concentrators.location_code,
        credentials_by_exit.student_key is not null as is_numerator,
        cast(null as {{ dbt.type_boolean() }}) as is_cluster_numerator,
        cast(null as {{ dbt.type_boolean() }}) as is_all_programs_numerator,
        true as is_outcome_observed,
        false as is_final_status_revised
    from concentrators
    left join credentials_by_exit
        on credentials_by_exit.student_key = concentrators.student_key
        and credentials_by_exit.school_year = concentrators.school_year
    where concentrators.has_graduated_in_year

    union all

    select
        concentrators.student_key,
        concentrators.school_year,
        '5S2' as indicator_code,
        concentrators.program_of_study_code,
        concentrators.career_cluster,
        concentrators.district_code,
        concentrators.location_code,
        exists(
            select 1
            from dual_credit_courses
            where dual_credit_courses.student_key = concentrators.student_key
                and dual_credit_courses.school_year = concentrators.school_year
                and dual_credit_courses.program_of_study_code
                = concentrators.program_of_study_code
        ) as is_numerator,
        exists(
            select 1
            from dual_credit_courses
            where dual_credit_courses.student_key = concentrators.student_key
                and dual_credit_courses.school_year = concentrators.school_year
                and dual_credit_courses.career_cluster = concentrators.career_cluster
        ) as is_cluster_numerator,
        milestones.has_dual_credit as is_all_programs_numerator,
        true as is_outcome_observed,
        false as is_final_status_revised
    from concentrators
    inner join milestones
        on milestones.student_key = concentrators.student_key
        and milestones.school_year = concentrators.school_year
    where concentrators.has_graduated_in_year

    union all

    select
        concentrators.student_key,
        concentrators.school_year,
        '5S3' as indicator_code,
        concentrators.program_of_study_code,
        concentrators.career_cluster,
        concentrators.district_code,
        concentrators.location_code,
        milestones.has_work_based_learning as is_numerator,
        cast(null as {{ dbt.type_boolean() }}) as is_cluster_numerator,
        cast(null as {{ dbt.type_boolean() }}) as is_all_programs_numerator,
        true as is_outcome_observed,
        false as is_final_status_revised
    from concentrators
    inner join milestones
        on milestones.student_key = concentrators.student_key
        and milestones.school_year = concentrators.school_year
    where concentrators.has_graduated_in_year
)

select
    student_key,
    school_year,
    indicator_code,
    program_of_study_code,
    career_cluster,
    district_code,
    location_code,
    coalesce(is_numerator, false) as is_numerator,
    coalesce(is_cluster_numerator, is_numerator, false) as is_cluster_numerator,
    coalesce(is_all_programs_numerator, is_numerator, false) as is_all_programs_numerator,
    is_outcome_observed,
    is_final_status_revised
from indicator_rows
