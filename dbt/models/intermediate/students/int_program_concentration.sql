with first_completions as (
    select
        student_key,
        program_of_study_code,
        course_code,
        min(school_year) as first_completed_year
    from {{ ref('int_course_completions') }}
    where is_completed
        and is_high_school_year
        and program_of_study_code is not null
    group by student_key, program_of_study_code, course_code
),

ordered_completions as (
    select
        first_completions.*,
        row_number() over (
            partition by student_key, program_of_study_code
            order by first_completed_year, course_code
        ) as completion_order
    from first_completions
),

-- The year the second distinct course was first completed: concentrator from then on.
concentration_start as (
    select
        student_key,
        program_of_study_code,
        first_completed_year as concentrator_since_year
    from ordered_completions
    where completion_order = 2
),

courses_to_date as (
    select
        first_completions.student_key,
        years.school_year,
        first_completions.program_of_study_code,
        count(*) as completed_courses_to_date,
        min(first_completions.first_completed_year) as participant_since_year
    from first_completions
    inner join {{ ref('int_reporting_years') }} as years
        on years.school_year >= first_completions.first_completed_year
    group by
        first_completions.student_key, years.school_year,
        first_completions.program_of_study_code
),

programs as (
    select
        program_of_study_code,
        career_cluster,
        nontraditional_for
    from {{ ref('stg_programs_of_study') }}
)

select
    courses_to_date.student_key,
    courses_to_date.school_year,
    courses_to_date.program_of_study_code,
    coalesce(programs.career_cluster, 'UNMAPPED') as career_cluster,
    programs.nontraditional_for,
    courses_to_date.completed_courses_to_date,
    courses_to_date.participant_since_year,
    concentration_start.concentrator_since_year,
    courses_to_date.completed_courses_to_date >= 2 as is_concentrator
from courses_to_date
left join concentration_start
    on concentration_start.student_key = courses_to_date.student_key
    and concentration_start.program_of_study_code = courses_to_date.program_of_study_code
left join programs
    on programs.program_of_study_code = courses_to_date.program_of_study_code
