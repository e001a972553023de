with leavers as (
    select * from {{ ref('int_exit_cohorts') }}
),

wage_coverage as (
    select max(quarter_index) as last_wage_quarter_index
    from {{ ref('stg_wage_records') }}
),

-- Earnings of a quarter are summed over all employers (UI wage records, one row per job).
quarter_earnings as (
    select
        student_key,
        quarter_index,
        sum(wages) as earnings
    from {{ ref('stg_wage_records') }}
    group by student_key, quarter_index
),

-- Terms starting from the exit date through the end of the 4th quarter after exit.
postsecondary_terms as (
    select
        leavers.student_key,
        leavers.school_year,
        count(distinct enrollments.term_start) as terms_enrolled
    from leavers
    inner join {{ ref('stg_postsecondary_enrollment') }} as enrollments
        on enrollments.student_key = leavers.student_key
        and enrollments.term_start >= leavers.exit_date
        and enrollments.term_start_quarter_index <= leavers.exit_quarter_index + 4
    group by leavers.student_key, leavers.school_year
),

wage_found as (
    select distinct
        leavers.student_key,
        leavers.school_year
    from leavers
    inner join {{ ref('stg_wage_records') }} as wages
        on wages.student_key = leavers.student_key
        and wages.quarter_index > leavers.exit_quarter_index
),

postsecondary_found as (
    select distinct
        leavers.student_key,
        leavers.school_year
    from leavers
    inner join {{ ref('stg_postsecondary_enrollment') }} as enrollments
        on enrollments.student_key = leavers.student_key
        and enrollments.term_start >= leavers.exit_date
),

enlistment_found as (
    select distinct
        leavers.student_key,
        leavers.school_year
    from leavers
    inner join {{ ref('stg_military_enlistment') }} as enlistments
        on enlistments.student_key = leavers.student_key
        and enlistments.enlist_date >= leavers.exit_date
),

spine as (
    select
        student_key,
        school_year,
        district_code,
        location_code,
        cte_region
    from {{ ref('int_student_years') }}
)

select
    leavers.student_key,
    leavers.school_year as exit_year,
    spine.district_code,
    spine.location_code,
    spine.cte_region,
    leavers.exit_code,
    leavers.exit_date,
    leavers.is_graduate,
    leavers.is_placed,
    leavers.is_placement_observed,
    leavers.exit_quarter_index,
    leavers.exit_quarter_index + 2 as q2_quarter_index,
    leavers.exit_quarter_index + 4 as q4_quarter_index,
    coalesce(leavers.exit_quarter_index + 2 <= wage_coverage.last_wage_quarter_index, false)
        as is_q2_observed,
    coalesce(leavers.exit_quarter_index + 4 <= wage_coverage.last_wage_quarter_index, false)
        as is_q4_observed,
    cast(coalesce(q2.earnings, 0) as {{ dbt.type_float() }}) as q2_earnings,
    cast(coalesce(q4.earnings, 0) as {{ dbt.type_float() }}) as q4_earnings,
    coalesce(q2.earnings > 0, false) as is_employed_q2,
    coalesce(q4.earnings > 0, false) as is_employed_q4,
    coalesce(postsecondary_terms.terms_enrolled, 0) >= 1 as is_postsecondary_enrolled,
    coalesce(postsecondary_terms.terms_enrolled, 0) >= 2 as has_persisted,
    wage_found.student_key is not null as is_in_wage_records,
    postsecondary_found.student_key is not null as is_in_postsecondary_records,
    enlistment_found.student_key is not null as is_in_enlistment_records
from leavers
inner join spine
    on spine.student_key = leavers.student_key
    and spine.school_year = leavers.school_year
cross join wage_coverage
left join quarter_earnings as q2
    on q2.student_key = leavers.student_key
    and q2.quarter_index = leavers.exit_quarter_index + 2
left join quarter_earnings as q4
    on q4.student_key = leavers.student_key
    and q4.quarter_index = leavers.exit_quarter_index + 4
left join postsecondary_terms
    on postsecondary_terms.student_key = leavers.student_key
    and postsecondary_terms.school_year = leavers.school_year
left join wage_found
    on wage_found.student_key = leavers.student_key
    and wage_found.school_year = leavers.school_year
left join postsecondary_found
    on postsecondary_found.student_key = leavers.student_key
    and postsecondary_found.school_year = leavers.school_year
left join enlistment_found
    on enlistment_found.student_key = leavers.student_key
    and enlistment_found.school_year = leavers.school_year
