{#-
    Coarsened exact matching, one row per comparison scope, outcome and matched stratum:
    the treated (concentrators of the scope) and controls (students who concentrate in no
    program) of the stratum with the count, sum and sum of squares of the outcome, so the
    mart can form the stratum-weighted difference and its variance without student rows.

    Scopes: each program of study (treated: its concentrators), each career cluster
    (concentrators in any of its programs) and the state (any concentrator). A stratum is
    kept only when it has at least one treated and one control student with a value of the
    outcome; unmatched students drop out (the usual CEM pruning). Outcomes are graduation
    (0/1), placement of graduates (0/1) and quarterly earnings of employed graduates in the
    2nd and 4th quarter after exit.
-#}
with students as (
    select * from {{ ref('int_comparison_students') }}
),

outcome_values as (
    select student_key, cohort_year, stratum_key, is_concentrator,
        'graduation' as outcome,
        case when has_graduated then 1.0 else 0.0 end as outcome_value
    from students
    union all
    select student_key, cohort_year, stratum_key, is_concentrator,
        'placement' as outcome,
        case when is_placed then 1.0 else 0.0 end as outcome_value
    from students
    where is_placed is not null
    union all
    select student_key, cohort_year, stratum_key, is_concentrator,
        'earnings_q2' as outcome, earnings_q2 as outcome_value
    from students
    where earnings_q2 is not null
    union all
    select student_key, cohort_year, stratum_key, is_concentrator,
        'earnings_q4' as outcome, earnings_q4 as outcome_value
    from students
    where earnings_q4 is not null
),

concentrator_programs as (
    select distinct student_key, school_year, program_of_study_code, career_cluster
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
        count(*) as treated_n,
        sum(outcome_values.outcome_value) as treated_sum,
        sum(outcome_values.outcome_value * outcome_values.outcome_value) as treated_sum_squares
    from outcome_values
    inner join treated_scopes
        on treated_scopes.student_key = outcome_values.student_key
        and treated_scopes.cohort_year = outcome_values.cohort_year
    where outcome_values.is_concentrator
    group by outcome_values.cohort_year, treated_scopes.comparison_scope,
        treated_scopes.program_of_study_code, treated_scopes.career_cluster,
        outcome_values.outcome, outcome_values.stratum_key
),

controls as (
    select
        cohort_year,
        outcome,
        stratum_key,
        count(*) as control_n,
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
    cast(treated.treated_n as {{ dbt.type_int() }}) as treated_n,
    cast(treated.treated_sum as {{ dbt.type_float() }}) as treated_sum,
    cast(treated.treated_sum_squares as {{ dbt.type_float() }}) as treated_sum_squares,
    cast(controls.control_n as {{ dbt.type_int() }}) as control_n,
    cast(controls.control_sum as {{ dbt.type_float() }}) as control_sum,
    cast(controls.control_sum_squares as {{ dbt.type_float() }}) as control_sum_squares
from treated
inner join controls
    on controls.cohort_year = treated.cohort_year
    and controls.outcome = treated.outcome
    and controls.stratum_key = treated.stratum_key
