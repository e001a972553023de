with cohort as (
    select *
    from {{ ref('int_student_years') }}
    where cohort_year = school_year
        and final_exit_code is distinct from 'TRANSFERRED_OUT'
),

first_high_school_year as (
    select
        student_key,
        min(school_year) as first_hs_year
    from {{ ref('stg_student_enrollment') }}
    where grade_number between 9 and 12
    group by student_key
),

prior_results as (
    select
        student_key,
        subject,
        is_proficient
    from (
        select
            results.student_key,
            results.subject,
            results.is_proficient,
            row_number() over (
                partition by results.student_key, results.subject
                order by results.school_year desc
            ) as result_rank
        from {{ ref('stg_assessment_results') }} as results
        inner join first_high_school_year
            on first_high_school_year.student_key = results.student_key
            and first_high_school_year.first_hs_year > results.school_year
        where results.subject in ('RLA', 'MATH')
    ) as ranked
    where result_rank = 1
),

prior_proficiency as (
    select
        student_key,
        cast(sum(case when is_proficient then 1 else 0 end) as {{ dbt.type_string() }})
        || '/' || cast(count(*) as {{ dbt.type_string() }}) as prior_proficiency
    from prior_results
    group by student_key
),

concentrators as (
    select
        student_key,
        school_year,
        max(case when is_concentrator then 1 else 0 end) = 1 as is_concentrator
    from {{ ref('int_program_concentration') }}
    group by student_key, school_year
),

leavers as (
    select
        leavers.student_key,
        leavers.exit_year,
        leavers.is_graduate,
        case when leavers.is_placement_observed then leavers.is_placed end as is_placed,
        case when leavers.is_q2_observed then leavers.is_employed_q2 end as is_employed_q2,
        case when leavers.is_q4_observed then leavers.is_employed_q4 end as is_employed_q4,
        case when leavers.is_q2_observed and leavers.is_employed_q2
                then leavers.q2_earnings
        end as earnings_q2,
        case when leavers.is_q4_observed and leavers.is_employed_q4
                then leavers.q4_earnings
        end as earnings_q4,
        leavers.is_in_wage_records
        or leavers.is_in_postsecondary_records
        or leavers.is_in_enlistment_records as is_in_placement_records,
        leavers.is_in_wage_records
    from {{ ref('int_outcome_leavers') }} as leavers
),

described as (
    select
        cohort.student_key,
        cohort.cohort_year,
        cohort.district_code,
        cohort.location_code,
        coalesce(cohort.sex, 'UNKNOWN') as sex,
        coalesce(cohort.race_ethnicity, 'UNKNOWN') as race_ethnicity,
        coalesce(cohort.economically_disadvantaged, 'UNKNOWN') as economically_disadvantaged,
        coalesce(cohort.disability, 'UNKNOWN') as disability,
        coalesce(cohort.english_learner, 'UNKNOWN') as english_learner,
        coalesce(prior_proficiency.prior_proficiency, 'UNKNOWN') as prior_proficiency,
        coalesce(concentrators.is_concentrator, false) as is_concentrator,
        concentrators.student_key is not null as is_participant,
        coalesce(
            cohort.final_exit_code = 'GRADUATED'
            and cohort.final_exit_school_year <= cohort.school_year,
            false
        ) as has_graduated,
        coalesce(
            cohort.exit_code in ('GRADUATED', 'DROPPED', 'OTHER')
            and cohort.exit_school_year <= cohort.school_year,
            false
        ) as has_left,
        cohort.exit_school_year
    from cohort
    left join prior_proficiency
        on prior_proficiency.student_key = cohort.student_key
    left join concentrators
        on concentrators.student_key = cohort.student_key
        and concentrators.school_year = cohort.school_year
)

select
    described.student_key,
    described.cohort_year,
    described.district_code,
    described.location_code,
    described.sex,
    described.race_ethnicity,
    described.economically_disadvantaged,
    described.disability,
    described.english_learner,
    described.prior_proficiency,
    {{ dbt.concat([
        "described.district_code", "'|'", "described.location_code", "'|'",
        "cast(described.cohort_year as " ~ dbt.type_string() ~ ")", "'|'",
        "described.sex", "'|'", "described.race_ethnicity", "'|'",
        "described.economically_disadvantaged", "'|'", "described.disability", "'|'",
        "described.english_learner", "'|'", "described.prior_proficiency"]) }} as stratum_key,
    described.is_concentrator,
    described.is_participant,
    described.has_graduated,
    described.has_left,
    leavers.student_key is not null as is_leaver_observed,
    leavers.is_placed as is_placed_leaver,
    case when described.has_graduated then leavers.is_placed end as is_placed,
    case when described.has_graduated then leavers.is_placed is not null end
        as is_placement_observed,
    leavers.is_employed_q2,
    leavers.is_employed_q4,
    case when described.has_graduated then leavers.earnings_q2 end as earnings_q2,
    case when described.has_graduated then leavers.earnings_q4 end as earnings_q4,
    leavers.is_in_placement_records,
    leavers.is_in_wage_records
from described
left join leavers
    on leavers.student_key = described.student_key
    and leavers.exit_year = described.exit_school_year
    and described.has_left
