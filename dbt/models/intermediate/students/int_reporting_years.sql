with enrollment_years as (
    select distinct school_year
    from {{ ref('stg_student_enrollment') }}
),

first_enrollment_year as (
    select min(school_year) as first_year
    from enrollment_years
),

first_course_year as (
    select min(school_year) as first_year
    from {{ ref('stg_cte_course_enrollment') }}
),

-- The first year both histories have: the later of the two first years.
first_loaded as (
    select
        case
            when enrollment.first_year >= courses.first_year then enrollment.first_year
            else courses.first_year
        end as first_year
    from first_enrollment_year as enrollment
    cross join first_course_year as courses
)

select
    enrollment_years.school_year,
    coalesce(
        enrollment_years.school_year - {{ var('complete_history_years') }}
        >= first_loaded.first_year,
        false
    ) as is_history_complete
from enrollment_years
cross join first_loaded
