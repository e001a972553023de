with schools as (
    select
        district_code,
        location_code,
        school_level,
        cte_region
    from {{ ref('stg_schools') }}
),

spine as (
    select * from {{ ref('int_student_years') }}
    where is_enrolled
),

student_programs as (
    select
        programs.student_key,
        programs.school_year,
        max(case when programs.is_concentrator then 1 else 0 end) as is_concentrator,
        max(case when programs.is_concentrator and legacy.is_high_cost then 1 else 0 end)
            as is_high_cost_concentrator
    from {{ ref('int_program_concentration') }} as programs
    left join {{ ref('int_program_legacy_clusters') }} as legacy
        on legacy.program_of_study_code = programs.program_of_study_code
    group by programs.student_key, programs.school_year
),

credential_tiers as (
    select
        credential_code,
        tier
    from {{ ref('stg_credentials') }}
),

credentials as (
    select
        spine.school_year,
        spine.district_code,
        spine.location_code,
        count(*) as credentials_earned,
        sum(case when credential_tiers.tier = 1 then 1 else 0 end) as tier_1_credentials,
        sum(case when credential_tiers.tier = 2 then 1 else 0 end) as tier_2_credentials,
        sum(case when credential_tiers.tier = 3 then 1 else 0 end) as tier_3_credentials
    from {{ ref('stg_credential_attainment') }} as attainment
    inner join spine
        on spine.student_key = attainment.student_key
        and spine.school_year = {{ school_year_of('attainment.earned_date') }}
    left join credential_tiers
        on credential_tiers.credential_code = attainment.credential_code
    where attainment.is_verified
    group by spine.school_year, spine.district_code, spine.location_code
),

students as (
    select
        spine.school_year,
        spine.district_code,
        spine.location_code,
        count(*) as enrolled_students,
        sum(
            case
                when spine.grade_number between {{ var('high_school_grades')[0] }}
                    and {{ var('high_school_grades')[1] }}
                    then 1
                else 0
            end
        ) as high_school_students,
        sum(case when student_programs.student_key is not null then 1 else 0 end)
            as participants,
        sum(coalesce(student_programs.is_concentrator, 0)) as concentrators,
        sum(coalesce(student_programs.is_high_cost_concentrator, 0)) as high_cost_concentrators,
        sum(case when spine.has_graduated_in_year then 1 else 0 end) as graduates,
        sum(case when spine.has_graduated_in_year and exit_cohorts.is_placed then 1 else 0 end)
            as placed_graduates,
        sum(
            case
                when spine.has_graduated_in_year and exit_cohorts.is_placement_observed then 1
                else 0
            end
        ) as placement_observed_graduates
    from spine
    left join student_programs
        on student_programs.student_key = spine.student_key
        and student_programs.school_year = spine.school_year
    left join {{ ref('int_exit_cohorts') }} as exit_cohorts
        on exit_cohorts.student_key = spine.student_key
        and exit_cohorts.school_year = spine.school_year
    group by spine.school_year, spine.district_code, spine.location_code
),

-- A year's placements are complete when every leaver's placement quarter is covered.
placement_years as (
    select
        school_year,
        min(case when is_placement_observed then 1 else 0 end) = 1 as is_placement_complete
    from {{ ref('int_exit_cohorts') }}
    group by school_year
),

spending as (
    select
        fiscal_year as school_year,
        district_code,
        location_code,
        sum(
            case
                when fund_code = '{{ var("operational_fund") }}'
                    and function_code in {{ sql_string_list(var('instruction_functions')) }}
                    then amount
            end
        ) as instructional_spending,
        sum(
            case
                when program_code in {{ sql_string_list(var('cte_program_codes')) }} then amount
            end
        ) as cte_spending
    from {{ ref('stg_school_expenditures') }}
    group by fiscal_year, district_code, location_code
),

-- Students in the offering grades who completed a program-of-study course at the school.
cte_offered as (
    select
        completions.school_year,
        completions.district_code,
        completions.location_code,
        count(distinct completions.student_key) as cte_course_takers
    from {{ ref('int_course_completions') }} as completions
    inner join {{ ref('stg_student_enrollment') }} as enrollment
        on enrollment.student_key = completions.student_key
        and enrollment.school_year = completions.school_year
        and enrollment.district_code = completions.district_code
        and enrollment.location_code = completions.location_code
    where completions.program_of_study_code is not null
        and completions.is_completed
        and enrollment.grade_number >= {{ formula_parameter('cte_offer_min_grade') }}
        and enrollment.grade_number <= {{ formula_parameter('cte_offer_max_grade') }}
    group by completions.school_year, completions.district_code, completions.location_code
)

select
    students.school_year,
    students.district_code,
    students.location_code,
    schools.school_level,
    schools.cte_region,
    cast(students.enrolled_students as {{ dbt.type_int() }}) as enrolled_students,
    cast(students.high_school_students as {{ dbt.type_int() }}) as high_school_students,
    cast(students.participants as {{ dbt.type_int() }}) as participants,
    cast(students.concentrators as {{ dbt.type_int() }}) as concentrators,
    cast(students.high_cost_concentrators as {{ dbt.type_int() }}) as high_cost_concentrators,
    cast(coalesce(credentials.credentials_earned, 0) as {{ dbt.type_int() }})
        as credentials_earned,
    cast(coalesce(credentials.tier_1_credentials, 0) as {{ dbt.type_int() }})
        as tier_1_credentials,
    cast(coalesce(credentials.tier_2_credentials, 0) as {{ dbt.type_int() }})
        as tier_2_credentials,
    cast(coalesce(credentials.tier_3_credentials, 0) as {{ dbt.type_int() }})
        as tier_3_credentials,
    cast(students.graduates as {{ dbt.type_int() }}) as graduates,
    cast(students.placed_graduates as {{ dbt.type_int() }}) as placed_graduates,
    cast(students.placement_observed_graduates as {{ dbt.type_int() }})
        as placement_observed_graduates,
    coalesce(placement_years.is_placement_complete, true) as is_placement_complete,
    cast(spending.instructional_spending as {{ dbt.type_float() }}) as instructional_spending,
    cast(spending.cte_spending as {{ dbt.type_float() }}) as cte_spending,
    cast(coalesce(cte_offered.cte_course_takers, 0) as {{ dbt.type_int() }})
        as cte_course_takers,
    coalesce(cte_offered.cte_course_takers, 0) > 0 as offers_cte
from students
inner join schools
    on schools.district_code = students.district_code
    and schools.location_code = students.location_code
left join credentials
    on credentials.school_year = students.school_year
    and credentials.district_code = students.district_code
    and credentials.location_code = students.location_code
left join spending
    on spending.school_year = students.school_year
    and spending.district_code = students.district_code
    and spending.location_code = students.location_code
left join placement_years
    on placement_years.school_year = students.school_year
left join cte_offered
    on cte_offered.school_year = students.school_year
    and cte_offered.district_code = students.district_code
    and cte_offered.location_code = students.location_code
