with students as (
    select * from {{ ref('int_comparison_students') }}
),

-- One row per student and outcome of the student's population: is_observed when the
-- outcome's data is loaded, outcome_value null when not observed (or, for earnings, not
-- employed). outcome_value is a DECIMAL (earnings back in cents: int_outcome_leavers
-- stores a double of a cents sum, which rounds back exactly), so the strata's sums and sums
-- of squares are exact in any order (decision 0035).
outcome_values as (
    select
        student_key,
        cohort_year,
        stratum_key,
        is_concentrator,
        'graduation' as outcome,
        true as is_observed,
        cast(null as boolean) as is_in_records,
        case when has_graduated then 1.0 else 0.0 end as outcome_value
    from students
    union all
    select
        student_key,
        cohort_year,
        stratum_key,
        is_concentrator,
        'placement_leavers' as outcome,
        is_placed_leaver is not null as is_observed,
        case when is_placed_leaver is not null then is_in_placement_records end as is_in_records,
        case when is_placed_leaver then 1.0 when not is_placed_leaver then 0.0 end as outcome_value
    from students
    where has_left
    union all
    select
        student_key,
        cohort_year,
        stratum_key,
        is_concentrator,
        'placement_graduates' as outcome,
        is_placed is not null as is_observed,
        case when is_placed is not null then is_in_placement_records end as is_in_records,
        case when is_placed then 1.0 when not is_placed then 0.0 end as outcome_value
    from students
    where has_graduated
    union all
    select
        student_key,
        cohort_year,
        stratum_key,
        is_concentrator,
        'employment_q2_leavers' as outcome,
        is_employed_q2 is not null as is_observed,
        case when is_employed_q2 is not null then is_in_wage_records end as is_in_records,
        case when is_employed_q2 then 1.0 when not is_employed_q2 then 0.0 end as outcome_value
    from students
    where has_left
    union all
    select
        student_key,
        cohort_year,
        stratum_key,
        is_concentrator,
        'employment_q4_leavers' as outcome,
        is_employed_q4 is not null as is_observed,
        case when is_employed_q4 is not null then is_in_wage_records end as is_in_records,
        case when is_employed_q4 then 1.0 when not is_employed_q4 then 0.0 end as outcome_value
    from students
    where has_left
    union all
    select
        student_key,
        cohort_year,
        stratum_key,
        is_concentrator,
        'earnings_q2_employed_graduates' as outcome,
        is_employed_q2 is not null as is_observed,
        case when is_employed_q2 is not null then is_in_wage_records end as is_in_records,
        cast(earnings_q2 as decimal(18, 2)) as outcome_value
    from students
    where has_graduated
    union all
    select
        student_key,
        cohort_year,
        stratum_key,
        is_concentrator,
        'earnings_q4_employed_graduates' as outcome,
        is_employed_q4 is not null as is_observed,
        case when is_employed_q4 is not null then is_in_wage_records end as is_in_records,
        cast(earnings_q4 as decimal(18, 2)) as outcome_value
    from students
    where has_graduated
),

concentrator_programs as (
    select distinct
        student_key,
        school_year,
        program_of_study_code,
        career_cluster
    from {{ ref('int_program_concentration') }}
    where is_concentrator
),

-- Each treated student once per scope: program, cluster (program 'ALL'), state (both 'ALL').
treated_scopes as (
    select distinct
        concentrator_programs.student_key,
        concentrator_programs.school_year as cohort_year,
        scopes.program_scope as comparison_scope,
        {{ program_scope_columns('scopes', 'concentrator_programs') }}
    from concentrator_programs
    cross join {{ program_scopes_relation() }} as scopes
),

treated as (
    select
        outcome_values.cohort_year,
        treated_scopes.comparison_scope,
        treated_scopes.program_of_study_code,
        treated_scopes.career_cluster,
        outcome_values.outcome,
        outcome_values.stratum_key,
        count(*) as treated_population_n,
        sum(case when outcome_values.is_observed then 1 else 0 end) as treated_observed_n,
        sum(case when outcome_values.is_in_records then 1 else 0 end) as treated_in_records_n,
        count(outcome_values.outcome_value) as treated_n,
        sum(outcome_values.outcome_value) as treated_sum,
        sum(outcome_values.outcome_value * outcome_values.outcome_value) as treated_sum_squares
    from outcome_values
    inner join treated_scopes
        on treated_scopes.student_key = outcome_values.student_key
        and treated_scopes.cohort_year = outcome_values.cohort_year
    where outcome_values.is_concentrator
    group by
        outcome_values.cohort_year, treated_scopes.comparison_scope,
        treated_scopes.program_of_study_code, treated_scopes.career_cluster,
        outcome_values.outcome, outcome_values.stratum_key
),

controls as (
    select
        cohort_year,
        outcome,
        stratum_key,
        count(*) as control_population_n,
        sum(case when is_observed then 1 else 0 end) as control_observed_n,
        sum(case when is_in_records then 1 else 0 end) as control_in_records_n,
        count(outcome_value) as control_n,
        sum(outcome_value) as control_sum,
        sum(outcome_value * outcome_value) as control_sum_squares
    from outcome_values
    where not is_concentrator
    group by cohort_year, outcome, stratum_key
)

select
    treated.cohort_year,
    treated.comparison_scope,
    treated.program_of_study_code,
    treated.career_cluster,
    treated.outcome,
    treated.stratum_key,
    cast(treated.treated_population_n as {{ dbt.type_int() }}) as treated_population_n,
    cast(treated.treated_observed_n as {{ dbt.type_int() }}) as treated_observed_n,
    cast(
        case when treated.outcome <> 'graduation' then treated.treated_in_records_n end
        as {{ dbt.type_int() }}
    ) as treated_in_records_n,
    cast(treated.treated_n as {{ dbt.type_int() }}) as treated_n,
    cast(treated.treated_sum as {{ dbt.type_float() }}) as treated_sum,
    cast(treated.treated_sum_squares as {{ dbt.type_float() }}) as treated_sum_squares,
    cast(controls.control_population_n as {{ dbt.type_int() }}) as control_population_n,
    cast(controls.control_observed_n as {{ dbt.type_int() }}) as control_observed_n,
    cast(
        case when controls.outcome <> 'graduation' then controls.control_in_records_n end
        as {{ dbt.type_int() }}
    ) as control_in_records_n,
    cast(controls.control_n as {{ dbt.type_int() }}) as control_n,
    cast(controls.control_sum as {{ dbt.type_float() }}) as control_sum,
    cast(controls.control_sum_squares as {{ dbt.type_float() }}) as control_sum_squares
from treated
inner join controls
    on controls.cohort_year = treated.cohort_year
    and controls.outcome = treated.outcome
    and controls.stratum_key = treated.stratum_key
