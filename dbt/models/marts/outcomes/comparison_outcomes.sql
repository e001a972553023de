-- 'ALL' stacks every cohort's strata: the pool reuses each cohort's matching.
-- Sums of doubles are sorted_sum()s: the same bits in every build (decision 0035).
with strata as (
    select
        cast(cohort_year as {{ dbt.type_string() }}) as cohort,
        *
    from {{ ref('int_comparison_strata') }}
    union all
    select
        'ALL' as cohort,
        *
    from {{ ref('int_comparison_strata') }}
),

coverage as (
    select
        cohort,
        comparison_scope,
        program_of_study_code,
        career_cluster,
        outcome,
        sum(treated_population_n) as treated_population,
        sum(control_population_n) as control_population,
        sum(treated_observed_n) as treated_observed,
        sum(control_observed_n) as control_observed,
        sum(treated_in_records_n) as treated_in_records,
        sum(control_in_records_n) as control_in_records
    from strata
    group by cohort, comparison_scope, program_of_study_code, career_cluster, outcome
),

matched as (
    select
        strata.*,
        treated_sum_squares - treated_sum * treated_sum / nullif(treated_n, 0)
            as treated_within_ss,
        control_sum_squares - control_sum * control_sum / nullif(control_n, 0)
            as control_within_ss
    from strata
    where treated_n > 0 and control_n > 0
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
        {{ sorted_sum('treated_sum') }} as treated_sum,
        {{ sorted_sum('treated_sum_squares') }} as treated_sum_squares,
        {{ sorted_sum('control_sum') }} as control_sum,
        {{ sorted_sum('control_sum_squares') }} as control_sum_squares,
        {{ sorted_sum('treated_within_ss') }} as treated_within_ss,
        {{ sorted_sum('control_within_ss') }} as control_within_ss,
        {{ sorted_sum('treated_n * control_sum / control_n') }} as weighted_control_sum
    from matched
    group by cohort, comparison_scope, program_of_study_code, career_cluster, outcome
),

-- Each side's stand-in variance for its one-student strata, with its degrees of freedom.
pooled as (
    select
        totals.*,
        case
            when matched_treated > matched_strata
                then treated_within_ss / (matched_treated - matched_strata)
            when matched_treated > 1
                then (treated_sum_squares - treated_sum * treated_sum / matched_treated)
                    / (matched_treated - 1)
        end as treated_pooled_variance,
        case
            when matched_treated > matched_strata then matched_treated - matched_strata
            when matched_treated > 1 then matched_treated - 1
        end as treated_pooled_df,
        case
            when matched_controls > matched_strata
                then control_within_ss / (matched_controls - matched_strata)
            when matched_controls > 1
                then (control_sum_squares - control_sum * control_sum / matched_controls)
                    / (matched_controls - 1)
        end as control_pooled_variance,
        case
            when matched_controls > matched_strata then matched_controls - matched_strata
            when matched_controls > 1 then matched_controls - 1
        end as control_pooled_df
    from totals
),

-- Per stratum and side: w_s^2 * s2 / n (own variance, n >= 2) and its Satterthwaite
-- denominator term, or w_s^2 (one student: the stand-in variance multiplies it below).
stratum_parts as (
    select
        matched.cohort,
        matched.comparison_scope,
        matched.program_of_study_code,
        matched.career_cluster,
        matched.outcome,
        cast(matched.treated_n as {{ dbt.type_float() }}) / totals.matched_treated as weight,
        matched.treated_n,
        matched.control_n,
        case when matched.treated_within_ss > 0 then matched.treated_within_ss else 0 end
        / nullif(matched.treated_n - 1, 0) as treated_variance,
        case when matched.control_within_ss > 0 then matched.control_within_ss else 0 end
        / nullif(matched.control_n - 1, 0) as control_variance
    from matched
    inner join totals
        on totals.cohort = matched.cohort
        and totals.comparison_scope = matched.comparison_scope
        and totals.program_of_study_code = matched.program_of_study_code
        and totals.career_cluster = matched.career_cluster
        and totals.outcome = matched.outcome
),

stratum_terms as (
    select
        cohort,
        comparison_scope,
        program_of_study_code,
        career_cluster,
        outcome,
        {{ sorted_sum('weight * weight * treated_variance / treated_n') }} as treated_own_part,
        {{ sorted_sum(
            'power(weight * weight * treated_variance / treated_n, 2) / (treated_n - 1)'
        ) }} as treated_own_df_term,
        {{ sorted_sum('case when treated_n = 1 then weight * weight else 0 end') }}
            as treated_single_weight,
        {{ sorted_sum('weight * weight * control_variance / control_n') }} as control_own_part,
        {{ sorted_sum(
            'power(weight * weight * control_variance / control_n, 2) / (control_n - 1)'
        ) }} as control_own_df_term,
        {{ sorted_sum('case when control_n = 1 then weight * weight else 0 end') }}
            as control_single_weight
    from stratum_parts
    group by cohort, comparison_scope, program_of_study_code, career_cluster, outcome
),

variances as (
    select
        pooled.*,
        pooled.treated_sum / pooled.matched_treated as treated_mean,
        pooled.weighted_control_sum / pooled.matched_treated as control_mean,
        coalesce(stratum_terms.treated_own_part, 0) as treated_own_part,
        coalesce(stratum_terms.treated_own_df_term, 0) as treated_own_df_term,
        -- null when the side has one student in all: no variance to stand in
        stratum_terms.treated_single_weight
        * case
            when pooled.treated_pooled_variance < 0 then 0 else pooled.treated_pooled_variance
        end
            as treated_stand_in_part,
        coalesce(stratum_terms.control_own_part, 0) as control_own_part,
        coalesce(stratum_terms.control_own_df_term, 0) as control_own_df_term,
        stratum_terms.control_single_weight
        * case
            when pooled.control_pooled_variance > 0 then pooled.control_pooled_variance else 0
        end
            as control_stand_in_part
    from pooled
    inner join stratum_terms
        on stratum_terms.cohort = pooled.cohort
        and stratum_terms.comparison_scope = pooled.comparison_scope
        and stratum_terms.program_of_study_code = pooled.program_of_study_code
        and stratum_terms.career_cluster = pooled.career_cluster
        and stratum_terms.outcome = pooled.outcome
),

estimates as (
    select
        variances.*,
        treated_mean - control_mean as difference,
        treated_own_part + treated_stand_in_part + control_own_part + control_stand_in_part
            as variance,
        treated_own_df_term + control_own_df_term
        + case when treated_stand_in_part > 0
                then treated_stand_in_part * treated_stand_in_part / treated_pooled_df
            else 0
        end
        + case when control_stand_in_part > 0
                then control_stand_in_part * control_stand_in_part / control_pooled_df
            else 0
        end
            as df_denominator
    from variances
),

intervals as (
    select
        estimates.*,
        sqrt(variance) as standard_error,
        case when df_denominator > 0 then variance * variance / df_denominator end as t_df
    from estimates
),

quantiles as (
    select
        intervals.*,
        {{ student_t_975('intervals.t_df', 'grid') }} as t_quantile
    from intervals
    left join {{ student_t_975_grid() }} as grid
        on grid.df_low <= intervals.t_df
        and grid.df_high > intervals.t_df
)

select
    coverage.cohort,
    coverage.comparison_scope,
    coverage.program_of_study_code,
    coverage.career_cluster,
    coverage.outcome,
    case
        when coverage.outcome = 'graduation' then 'cohort members'
        when coverage.outcome like '%_leavers' then 'leavers'
        when coverage.outcome = 'placement_graduates' then 'graduates'
        else 'graduates employed in the quarter'
    end as outcome_population,
    coverage.outcome in (
        'placement_graduates', 'earnings_q2_employed_graduates', 'earnings_q4_employed_graduates'
    ) as is_conditional,
    cast(coalesce(quantiles.matched_strata, 0) as {{ dbt.type_int() }}) as matched_strata,
    cast(coalesce(quantiles.matched_treated, 0) as {{ dbt.type_int() }}) as matched_treated,
    cast(coalesce(quantiles.matched_controls, 0) as {{ dbt.type_int() }}) as matched_controls,
    cast(case
        when coalesce(quantiles.matched_controls, 0) < coalesce(quantiles.matched_treated, 0)
            then coalesce(quantiles.matched_controls, 0)
        else coalesce(quantiles.matched_treated, 0)
    end as {{ dbt.type_int() }}) as matched_min_n,
    cast(coverage.treated_population as {{ dbt.type_int() }}) as treated_population,
    cast(coverage.control_population as {{ dbt.type_int() }}) as control_population,
    cast(coverage.treated_observed as {{ dbt.type_int() }}) as treated_observed,
    cast(coverage.control_observed as {{ dbt.type_int() }}) as control_observed,
    {{ safe_rate('coverage.treated_observed', 'coverage.treated_population') }}
        as treated_coverage_share,
    {{ safe_rate('coverage.control_observed', 'coverage.control_population') }}
        as control_coverage_share,
    cast(coverage.treated_in_records as {{ dbt.type_int() }}) as treated_in_records,
    cast(coverage.control_in_records as {{ dbt.type_int() }}) as control_in_records,
    {{ safe_rate('coverage.treated_in_records', 'coverage.treated_observed') }}
        as treated_in_records_share,
    {{ safe_rate('coverage.control_in_records', 'coverage.control_observed') }}
        as control_in_records_share,
    -- A 0/1 outcome's mean is a rate: published as one too, so that it is coded like one.
    cast(case
        when coverage.outcome not like 'earnings%' then quantiles.treated_sum
    end as {{ dbt.type_int() }}) as treated_with_outcome,
    cast(case
        when coverage.outcome not like 'earnings%' then quantiles.control_sum
    end as {{ dbt.type_int() }}) as control_with_outcome,
    case when coverage.outcome not like 'earnings%'
            then {{ safe_rate('quantiles.treated_sum', 'quantiles.matched_treated') }}
    end as treated_outcome_share,
    case when coverage.outcome not like 'earnings%'
            then {{ safe_rate('quantiles.control_sum', 'quantiles.matched_controls') }}
    end as control_outcome_share,
    cast(quantiles.treated_mean as {{ dbt.type_float() }}) as treated_mean,
    cast(quantiles.control_mean as {{ dbt.type_float() }}) as control_mean,
    cast(quantiles.difference as {{ dbt.type_float() }}) as difference,
    cast(quantiles.standard_error as {{ dbt.type_float() }}) as standard_error,
    cast(quantiles.t_df as {{ dbt.type_float() }}) as t_df,
    cast(case when quantiles.standard_error = 0 then quantiles.difference
        else quantiles.difference - quantiles.t_quantile * quantiles.standard_error
    end as {{ dbt.type_float() }}) as ci_low,
    cast(case when quantiles.standard_error = 0 then quantiles.difference
        else quantiles.difference + quantiles.t_quantile * quantiles.standard_error
    end as {{ dbt.type_float() }}) as ci_high,
    -- 'ALL' pools every cohort: complete when its earliest cohort is.
    {{ is_history_complete(
        "coalesce(cast(nullif(coverage.cohort, 'ALL') as " ~ dbt.type_int() ~ "), "
        ~ "(select min(cohort_year) from " ~ ref('int_comparison_strata') ~ "))") }}
        as is_history_complete
from coverage
left join quantiles
    on quantiles.cohort = coverage.cohort
    and quantiles.comparison_scope = coverage.comparison_scope
    and quantiles.program_of_study_code = coverage.program_of_study_code
    and quantiles.career_cluster = coverage.career_cluster
    and quantiles.outcome = coverage.outcome
