{#-
    Concentrators against similar non-concentrators, matched exactly (coarsened exact
    matching, int_comparison_strata) on school, cohort, sex, race/ethnicity, economic
    disadvantage, disability, English learner status and prior proficiency. One row per
    cohort (each cohort year, and 'ALL' pooling every cohort's strata), scope (program,
    cluster, state) and outcome (graduation, placement, earnings_q2, earnings_q4).

    Estimator (effect on the treated): difference = treated mean - sum over strata of
    w_s * control mean_s, with w_s = treated_n_s / matched_treated. Variance:
    V_T / matched_treated + V_C * sum_s (w_s^2 / control_n_s), where V_T and V_C are the
    pooled within-stratum variances of each group (sum of squared deviations from the
    stratum mean over n - number of strata; when every stratum has one student of a group
    the group's variance around its overall mean is used instead; with one student in
    the group, the standard error and interval are null). The 95 percent interval
    is difference -/+ 1.96 standard errors (normal approximation). is_history_complete is
    false for a cohort year, or a pool, counted from a partial course history.
-#}
with strata as (
    select
        cast(cohort_year as {{ dbt.type_string() }}) as cohort,
        comparison_scope, program_of_study_code, career_cluster, outcome, stratum_key,
        treated_n, treated_sum, treated_sum_squares, control_n, control_sum, control_sum_squares
    from {{ ref('int_comparison_strata') }}
    union all
    select
        'ALL' as cohort,
        comparison_scope, program_of_study_code, career_cluster, outcome, stratum_key,
        treated_n, treated_sum, treated_sum_squares, control_n, control_sum, control_sum_squares
    from {{ ref('int_comparison_strata') }}
),

totals as (
    select
        cohort,
        comparison_scope,
        program_of_study_code,
        career_cluster,
        outcome,
        count(*) as matched_strata,
        sum(treated_n) as matched_treated,
        sum(control_n) as matched_controls,
        sum(treated_sum) as treated_sum,
        sum(treated_sum_squares) as treated_sum_squares,
        sum(control_sum) as control_sum,
        sum(control_sum_squares) as control_sum_squares,
        sum(treated_sum_squares - treated_sum * treated_sum / treated_n) as treated_within_ss,
        sum(control_sum_squares - control_sum * control_sum / control_n) as control_within_ss,
        sum(treated_n * control_sum / control_n) as weighted_control_sum,
        sum(cast(treated_n as {{ dbt.type_float() }}) * treated_n / control_n)
            as control_variance_factor
    from strata
    group by cohort, comparison_scope, program_of_study_code, career_cluster, outcome
),

variances as (
    select
        totals.*,
        treated_sum / matched_treated as treated_mean,
        weighted_control_sum / matched_treated as control_mean,
        case
            when matched_treated > matched_strata
                then treated_within_ss / (matched_treated - matched_strata)
            when matched_treated > 1
                then (treated_sum_squares - treated_sum * treated_sum / matched_treated)
                    / (matched_treated - 1)
        end as treated_variance,
        case
            when matched_controls > matched_strata
                then control_within_ss / (matched_controls - matched_strata)
            when matched_controls > 1
                then (control_sum_squares - control_sum * control_sum / matched_controls)
                    / (matched_controls - 1)
        end as control_variance
    from totals
),

estimates as (
    select
        variances.*,
        treated_mean - control_mean as difference,
        sqrt(
            case when treated_variance < 0 then 0 else treated_variance end / matched_treated
            + case when control_variance < 0 then 0 else control_variance end
                * control_variance_factor / (cast(matched_treated as {{ dbt.type_float() }})
                    * matched_treated)
        ) as standard_error
    from variances
)

select
    cohort,
    comparison_scope,
    program_of_study_code,
    career_cluster,
    outcome,
    cast(matched_strata as {{ dbt.type_int() }}) as matched_strata,
    cast(matched_treated as {{ dbt.type_int() }}) as matched_treated,
    cast(matched_controls as {{ dbt.type_int() }}) as matched_controls,
    cast(case when matched_controls < matched_treated then matched_controls else matched_treated
        end as {{ dbt.type_int() }}) as matched_min_n,
    cast(treated_mean as {{ dbt.type_float() }}) as treated_mean,
    cast(control_mean as {{ dbt.type_float() }}) as control_mean,
    cast(difference as {{ dbt.type_float() }}) as difference,
    cast(standard_error as {{ dbt.type_float() }}) as standard_error,
    cast(difference - {{ z_95() }} * standard_error as {{ dbt.type_float() }}) as ci_low,
    cast(difference + {{ z_95() }} * standard_error as {{ dbt.type_float() }}) as ci_high,
    -- 'ALL' pools every cohort: complete when its earliest cohort is.
    {{ is_history_complete(
        "coalesce(cast(nullif(cohort, 'ALL') as " ~ dbt.type_int() ~ "), "
        ~ "(select min(cohort_year) from " ~ ref('int_comparison_strata') ~ "))") }}
        as is_history_complete
from estimates
