with concentrator_leavers as (
    select distinct
        leavers.student_key,
        leavers.exit_year,
        leavers.district_code,
        leavers.location_code,
        {{ program_scope_columns('scopes', 'programs') }},
        leavers.is_graduate,
        leavers.is_q2_observed,
        leavers.is_q4_observed,
        leavers.is_employed_q2,
        leavers.is_employed_q4,
        leavers.q2_earnings,
        leavers.q4_earnings,
        leavers.is_postsecondary_enrolled,
        leavers.has_persisted,
        leavers.is_in_wage_records,
        leavers.is_in_postsecondary_records
    from {{ ref('int_outcome_leavers') }} as leavers
    inner join {{ ref('int_program_concentration') }} as programs
        on programs.student_key = leavers.student_key
        and programs.school_year = leavers.exit_year
    cross join {{ program_scopes_relation() }} as scopes
    where programs.is_concentrator
),

benchmarks as (
    select
        school_year,
        oews_year,
        area_annual_median_wage,
        area_annual_median_wage / 4.0 as quarterly_wage_benchmark
    from {{ ref('int_occupation_profiles') }}
    where is_all_occupations
),

-- Medians cannot be summed, so every level is computed from student rows directly.
leveled as (
    select
        cell.exit_year,
        {{ level_columns('lv', 'cell') }},
        cell.program_of_study_code,
        cell.career_cluster,
        cell.student_key,
        cell.is_graduate,
        cell.is_q2_observed,
        cell.is_q4_observed,
        cell.is_q2_observed and cell.is_employed_q2 as is_employed_q2,
        cell.is_q4_observed and cell.is_employed_q4 as is_employed_q4,
        cell.q2_earnings,
        cell.q4_earnings,
        cell.is_postsecondary_enrolled,
        cell.has_persisted,
        cell.is_in_wage_records,
        cell.is_in_postsecondary_records,
        benchmarks.oews_year,
        benchmarks.quarterly_wage_benchmark
    from concentrator_leavers as cell
    cross join {{ levels_relation() }} as lv
    left join benchmarks
        on benchmarks.school_year = cell.exit_year
),

cells as (
    select
        exit_year,
        level,
        entity_code,
        parent_entity_code,
        district_code,
        location_code,
        program_of_study_code,
        career_cluster,
        max(oews_year) as wage_benchmark_oews_year,
        max(quarterly_wage_benchmark) as quarterly_wage_benchmark,
        count(*) as leavers,
        sum(case when is_graduate then 1 else 0 end) as graduates,
        sum(case when is_q2_observed then 1 else 0 end) as q2_observed_leavers,
        sum(case when is_employed_q2 then 1 else 0 end) as employed_q2,
        percentile_cont(0.5) within group (
            order by case when is_employed_q2 then q2_earnings end
        ) as median_earnings_q2,
        sum(case when is_employed_q2 and q2_earnings > quarterly_wage_benchmark then 1 else 0 end)
            as above_state_median_q2,
        sum(case when is_q4_observed then 1 else 0 end) as q4_observed_leavers,
        sum(case when is_employed_q4 then 1 else 0 end) as employed_q4,
        percentile_cont(0.5) within group (
            order by case when is_employed_q4 then q4_earnings end
        ) as median_earnings_q4,
        sum(case when is_employed_q4 and q4_earnings > quarterly_wage_benchmark then 1 else 0 end)
            as above_state_median_q4,
        sum(case when is_postsecondary_enrolled then 1 else 0 end) as postsecondary_enrolled,
        sum(case when has_persisted then 1 else 0 end) as postsecondary_persisted,
        sum(case when is_in_wage_records then 1 else 0 end) as wage_record_leavers,
        sum(case when is_in_postsecondary_records then 1 else 0 end)
            as postsecondary_record_leavers
    from leveled
    group by
        exit_year, level, entity_code, parent_entity_code, district_code, location_code,
        program_of_study_code, career_cluster
)

select
    exit_year,
    level,
    entity_code,
    parent_entity_code,
    district_code,
    location_code,
    program_of_study_code,
    career_cluster,
    cast(leavers as {{ dbt.type_int() }}) as leavers,
    cast(graduates as {{ dbt.type_int() }}) as graduates,
    cast(q2_observed_leavers as {{ dbt.type_int() }}) as q2_observed_leavers,
    cast(employed_q2 as {{ dbt.type_int() }}) as employed_q2,
    {{ safe_rate('employed_q2', 'q2_observed_leavers') }} as employment_rate_q2,
    cast(median_earnings_q2 as {{ dbt.type_float() }}) as median_earnings_q2,
    cast(above_state_median_q2 as {{ dbt.type_int() }}) as above_state_median_q2,
    {{ safe_rate('above_state_median_q2', 'employed_q2') }} as above_state_median_share_q2,
    cast(q4_observed_leavers as {{ dbt.type_int() }}) as q4_observed_leavers,
    cast(employed_q4 as {{ dbt.type_int() }}) as employed_q4,
    {{ safe_rate('employed_q4', 'q4_observed_leavers') }} as employment_rate_q4,
    cast(median_earnings_q4 as {{ dbt.type_float() }}) as median_earnings_q4,
    cast(above_state_median_q4 as {{ dbt.type_int() }}) as above_state_median_q4,
    {{ safe_rate('above_state_median_q4', 'employed_q4') }} as above_state_median_share_q4,
    cast(postsecondary_enrolled as {{ dbt.type_int() }}) as postsecondary_enrolled,
    {{ safe_rate('postsecondary_enrolled', 'leavers') }} as postsecondary_rate,
    cast(postsecondary_persisted as {{ dbt.type_int() }}) as postsecondary_persisted,
    {{ safe_rate('postsecondary_persisted', 'postsecondary_enrolled') }} as persistence_rate,
    cast(wage_record_leavers as {{ dbt.type_int() }}) as wage_record_leavers,
    {{ safe_rate('wage_record_leavers', 'leavers') }} as wage_record_share,
    cast(postsecondary_record_leavers as {{ dbt.type_int() }}) as postsecondary_record_leavers,
    {{ safe_rate('postsecondary_record_leavers', 'leavers') }} as postsecondary_record_share,
    cast(quarterly_wage_benchmark as {{ dbt.type_float() }}) as quarterly_wage_benchmark,
    wage_benchmark_oews_year,
    {{ is_history_complete('cells.exit_year') }} as is_history_complete
from cells
