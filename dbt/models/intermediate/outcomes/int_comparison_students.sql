{#-
    The comparison population: one row per student of a four-year cohort (cohort_year = Y),
    described as of reporting year Y like Perkins 1S1 (final status other than
    TRANSFERRED_OUT), with the matching stratum, the outcomes, and whether the student is
    a concentrator as of Y in any program (non-concentrators are the comparison group).

    Stratum (coarsened exact matching): school as of Y, cohort, sex, race/ethnicity,
    economic disadvantage, disability, English learner status and prior proficiency. Prior
    proficiency is coarsened to "proficient/tested" over the latest RLA and MATH results
    from school years before the student's first high-school year (e.g. '1/2'), or
    'UNKNOWN' when there is none.

    Outcomes: graduated (on or before June 30 of Y); for graduates, placed (Perkins 3S1
    rule, int_exit_cohorts) and quarterly earnings in the 2nd and 4th quarter after exit,
    among those employed in an observed quarter (int_outcome_leavers).
-#}
with cohort as (
    select *
    from {{ ref('int_student_years') }}
    where cohort_year = school_year
        and final_exit_code is distinct from 'TRANSFERRED_OUT'
),

first_high_school_year as (
    select student_key, min(school_year) as first_hs_year
    from {{ ref('stg_student_enrollment') }}
    where grade_number between 9 and 12
    group by student_key
),

prior_results as (
    select student_key, subject, is_proficient
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
            and results.school_year < first_high_school_year.first_hs_year
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
    select distinct student_key, school_year
    from {{ ref('int_program_concentration') }}
    where is_concentrator
),

graduates as (
    select
        leavers.student_key,
        leavers.exit_year,
        leavers.is_placed,
        case when leavers.is_q2_observed and leavers.is_employed_q2
            then leavers.q2_earnings end as earnings_q2,
        case when leavers.is_q4_observed and leavers.is_employed_q4
            then leavers.q4_earnings end as earnings_q4
    from {{ ref('int_outcome_leavers') }} as leavers
    where leavers.is_graduate
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
        concentrators.student_key is not null as is_concentrator,
        coalesce(
            cohort.final_exit_code = 'GRADUATED'
            and cohort.final_exit_school_year <= cohort.school_year,
            false
        ) as has_graduated,
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
    described.has_graduated,
    case when described.has_graduated then coalesce(graduates.is_placed, false) end as is_placed,
    case when described.has_graduated then graduates.earnings_q2 end as earnings_q2,
    case when described.has_graduated then graduates.earnings_q4 end as earnings_q4
from described
left join graduates
    on graduates.student_key = described.student_key
    and graduates.exit_year = described.exit_school_year
