with leavers as (
    select
        student_key,
        school_year,
        exit_code,
        exit_date,
        has_graduated_in_year as is_graduate,
        {{ quarter_index('exit_date') }} as exit_quarter_index,
        {{ quarter_index('exit_date') }} + 2 as placement_quarter_index
    from {{ ref('int_student_years') }}
    where has_left_in_year
),

-- The last quarter each placement source reaches.
wage_reach as (
    select max(quarter_index) as last_quarter_index
    from {{ ref('stg_wage_records') }}
),

postsecondary_reach as (
    select {{ year_quarter_index('max(data_year)', 4) }} as last_quarter_index
    from {{ ref('stg_postsecondary_enrollment') }}
),

-- The latest quarter both placement sources reach; null while either is empty (spelled
-- out because LEAST skips nulls on DuckDB and Postgres).
loaded_through as (
    select
        case
            when wages.last_quarter_index <= postsecondary_years.last_quarter_index
                then wages.last_quarter_index
            when wages.last_quarter_index > postsecondary_years.last_quarter_index
                then postsecondary_years.last_quarter_index
        end as last_quarter_index
    from wage_reach as wages
    cross join postsecondary_reach as postsecondary_years
),

postsecondary as (
    select
        leavers.student_key,
        leavers.school_year
    from leavers
    inner join {{ ref('stg_postsecondary_enrollment') }} as enrollments
        on enrollments.student_key = leavers.student_key
        and enrollments.term_start >= leavers.exit_date
        and enrollments.term_start_quarter_index <= leavers.placement_quarter_index
    group by leavers.student_key, leavers.school_year
),

military as (
    select
        leavers.student_key,
        leavers.school_year
    from leavers
    inner join {{ ref('stg_military_enlistment') }} as enlistments
        on enlistments.student_key = leavers.student_key
        and enlistments.enlist_quarter_index <= leavers.placement_quarter_index
    group by leavers.student_key, leavers.school_year
),

employment as (
    select
        leavers.student_key,
        leavers.school_year
    from leavers
    inner join {{ ref('stg_wage_records') }} as wages
        on wages.student_key = leavers.student_key
        and wages.quarter_index = leavers.placement_quarter_index
    group by leavers.student_key, leavers.school_year
    having sum(wages.wages) > 0
)

select
    leavers.student_key,
    leavers.school_year,
    leavers.exit_code,
    leavers.exit_date,
    leavers.is_graduate,
    leavers.exit_quarter_index,
    leavers.placement_quarter_index,
    coalesce(leavers.placement_quarter_index <= loaded_through.last_quarter_index, false)
        as is_placement_observed,
    case
        when postsecondary.student_key is not null then 'POSTSECONDARY'
        when military.student_key is not null then 'MILITARY'
        when employment.student_key is not null then 'EMPLOYMENT'
    end as placement_type,
    coalesce(
        postsecondary.student_key is not null
        or military.student_key is not null
        or employment.student_key is not null,
        false
    ) as is_placed
from leavers
cross join loaded_through
left join postsecondary
    on postsecondary.student_key = leavers.student_key
    and postsecondary.school_year = leavers.school_year
left join military
    on military.student_key = leavers.student_key
    and military.school_year = leavers.school_year
left join employment
    on employment.student_key = leavers.student_key
    and employment.school_year = leavers.school_year
