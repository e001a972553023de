with courses as (
    select
        course_code,
        program_of_study_code,
        career_cluster as course_career_cluster
    from {{ ref('stg_courses') }}
),

programs as (
    select
        program_of_study_code,
        career_cluster
    from {{ ref('stg_programs_of_study') }}
),

high_school_years as (
    select
        student_key,
        school_year
    from {{ ref('stg_student_enrollment') }}
    where grade_number between 9 and 12
    group by student_key, school_year
)

select
    course_rows.student_key,
    course_rows.district_code,
    course_rows.location_code,
    course_rows.school_year,
    course_rows.course_code,
    course_rows.term,
    course_rows.is_completed,
    course_rows.is_dual_credit,
    course_rows.credits_earned,
    courses.program_of_study_code,
    coalesce(programs.career_cluster, courses.course_career_cluster) as career_cluster,
    high_school_years.student_key is not null as is_high_school_year
from {{ ref('stg_cte_course_enrollment') }} as course_rows
left join courses
    on courses.course_code = course_rows.course_code
left join programs
    on programs.program_of_study_code = courses.program_of_study_code
left join high_school_years
    on high_school_years.student_key = course_rows.student_key
    and high_school_years.school_year = course_rows.school_year
