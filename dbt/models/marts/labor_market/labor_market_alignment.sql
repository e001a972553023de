with programs as (
    select
        program_of_study_code,
        career_cluster,
        soc_codes
    from {{ ref('stg_programs_of_study') }}
),

program_occupations as (
    select distinct
        programs.program_of_study_code,
        programs.career_cluster,
        trim(split_part(programs.soc_codes, '|', positions.n)) as soc_code
    from programs
    cross join {{ integers_relation(20) }} as positions
    where trim(split_part(programs.soc_codes, '|', positions.n)) <> ''
),

-- Program rows and, with program 'ALL', one row per cluster over its distinct occupations.
scoped_occupations as (
    select
        program_of_study_code,
        career_cluster,
        soc_code
    from program_occupations
    union
    select
        'ALL' as program_of_study_code,
        career_cluster,
        soc_code
    from program_occupations
),

regions as (
    select distinct cte_region
    from {{ ref('stg_schools') }}
),

region_scopes as (
    select
        'region' as region_scope,
        cte_region
    from regions
    union all
    select
        'state' as region_scope,
        'ALL' as cte_region
),

years as (
    select school_year from {{ ref('int_reporting_years') }}
),

enrollment as (
    select
        school_year,
        coalesce(cast(cte_region as {{ dbt.type_string() }}), 'UNKNOWN') as cte_region,
        count(*) as students_hs
    from {{ ref('int_student_years') }}
    where is_enrolled_hs and is_enrolled
    group by school_year, coalesce(cast(cte_region as {{ dbt.type_string() }}), 'UNKNOWN')
),

state_enrollment as (
    select
        school_year,
        sum(students_hs) as students_hs
    from enrollment
    group by school_year
),

enrollment_shares as (
    select
        enrollment.school_year,
        enrollment.cte_region,
        {{ safe_rate('enrollment.students_hs', 'state_totals.students_hs') }}
            as region_enrollment_share
    from enrollment
    inner join state_enrollment as state_totals
        on state_totals.school_year = enrollment.school_year
),

graduates as (
    select distinct
        programs.student_key,
        programs.school_year,
        coalesce(cast(spine.cte_region as {{ dbt.type_string() }}), 'UNKNOWN') as cte_region,
        programs.program_of_study_code,
        programs.career_cluster
    from {{ ref('int_program_concentration') }} as programs
    inner join {{ ref('int_student_years') }} as spine
        on spine.student_key = programs.student_key
        and spine.school_year = programs.school_year
    where programs.is_concentrator
        and spine.has_graduated_in_year
),

-- Each graduate counts for the program and for its cluster (program 'ALL').
program_scopes as (
    select true as is_cluster
    union all
    select false as is_cluster
),

supply as (
    select
        graduates.school_year,
        region_scopes.region_scope,
        region_scopes.cte_region,
        case when program_scope.is_cluster then 'ALL' else graduates.program_of_study_code end
            as program_of_study_code,
        graduates.career_cluster,
        count(distinct graduates.student_key) as concentrator_graduates
    from graduates
    cross join program_scopes as program_scope
    inner join region_scopes
        on region_scopes.cte_region = graduates.cte_region
        or region_scopes.region_scope = 'state'
    group by
        graduates.school_year, region_scopes.region_scope, region_scopes.cte_region,
        case when program_scope.is_cluster then 'ALL' else graduates.program_of_study_code end,
        graduates.career_cluster
),

occupation_rows as (
    select
        years.school_year,
        region_scopes.region_scope,
        region_scopes.cte_region,
        scoped_occupations.program_of_study_code,
        scoped_occupations.career_cluster,
        scoped_occupations.soc_code,
        profiles.occupation_title,
        profiles.oews_year,
        profiles.projections_year,
        profiles.annual_median_wage,
        profiles.annual_median_wage_flag,
        profiles.wage_is_top_coded,
        profiles.area_annual_median_wage,
        profiles.total_employment,
        profiles.total_employment_flag,
        profiles.annual_openings,
        profiles.typical_education,
        profiles.growth_rate,
        profiles.area_growth_rate,
        profiles.is_high_wage,
        profiles.is_high_skill,
        profiles.is_high_demand,
        regional.regional_median_wage,
        regional.regional_wage_areas,
        regional.regional_wage_coverage
    from years
    cross join region_scopes
    cross join scoped_occupations
    left join {{ ref('int_occupation_profiles') }} as profiles
        on profiles.school_year = years.school_year
        and profiles.soc_code = scoped_occupations.soc_code
    left join {{ ref('int_regional_wages') }} as regional
        on regional.school_year = years.school_year
        and regional.cte_region = region_scopes.cte_region
        and regional.soc_code = scoped_occupations.soc_code
),

summary_rows as (
    select
        school_year,
        region_scope,
        cte_region,
        program_of_study_code,
        career_cluster,
        'ALL' as soc_code,
        count(*) as occupations,
        sum(case when is_high_wage then 1 else 0 end) as high_wage_occupations,
        sum(case when is_high_skill then 1 else 0 end) as high_skill_occupations,
        sum(case when is_high_demand then 1 else 0 end) as high_demand_occupations,
        sum(annual_openings) as state_annual_openings
    from occupation_rows
    group by school_year, region_scope, cte_region, program_of_study_code, career_cluster
),

all_rows as (
    select
        school_year,
        region_scope,
        cte_region,
        program_of_study_code,
        career_cluster,
        soc_code,
        occupation_title,
        oews_year,
        projections_year,
        annual_median_wage,
        annual_median_wage_flag,
        wage_is_top_coded,
        area_annual_median_wage,
        total_employment,
        total_employment_flag,
        typical_education,
        growth_rate,
        area_growth_rate,
        is_high_wage,
        is_high_skill,
        is_high_demand,
        regional_median_wage,
        regional_wage_areas,
        regional_wage_coverage,
        cast(null as {{ dbt.type_int() }}) as occupations,
        cast(null as {{ dbt.type_int() }}) as high_wage_occupations,
        cast(null as {{ dbt.type_int() }}) as high_skill_occupations,
        cast(null as {{ dbt.type_int() }}) as high_demand_occupations,
        annual_openings as state_annual_openings
    from occupation_rows
    where program_of_study_code <> 'ALL'
    union all
    select
        school_year,
        region_scope,
        cte_region,
        program_of_study_code,
        career_cluster,
        soc_code,
        cast(null as {{ dbt.type_string() }}) as occupation_title,
        cast(null as {{ dbt.type_int() }}) as oews_year,
        cast(null as {{ dbt.type_int() }}) as projections_year,
        cast(null as {{ dbt.type_float() }}) as annual_median_wage,
        cast(null as {{ dbt.type_string() }}) as annual_median_wage_flag,
        cast(null as boolean) as wage_is_top_coded,
        cast(null as {{ dbt.type_float() }}) as area_annual_median_wage,
        cast(null as {{ dbt.type_float() }}) as total_employment,
        cast(null as {{ dbt.type_string() }}) as total_employment_flag,
        cast(null as {{ dbt.type_string() }}) as typical_education,
        cast(null as {{ dbt.type_float() }}) as growth_rate,
        cast(null as {{ dbt.type_float() }}) as area_growth_rate,
        cast(null as boolean) as is_high_wage,
        cast(null as boolean) as is_high_skill,
        cast(null as boolean) as is_high_demand,
        cast(null as {{ dbt.type_float() }}) as regional_median_wage,
        cast(null as {{ dbt.type_int() }}) as regional_wage_areas,
        cast(null as {{ dbt.type_float() }}) as regional_wage_coverage,
        occupations,
        high_wage_occupations,
        high_skill_occupations,
        high_demand_occupations,
        state_annual_openings
    from summary_rows
),

scaled as (
    select
        all_rows.*,
        case when all_rows.region_scope = 'state' then 1.0
            else coalesce(enrollment_shares.region_enrollment_share, 0) end
            as region_enrollment_share,
        coalesce(supply.concentrator_graduates, 0) as concentrator_graduates
    from all_rows
    left join supply
        on supply.school_year = all_rows.school_year
        and supply.region_scope = all_rows.region_scope
        and supply.cte_region = all_rows.cte_region
        and supply.program_of_study_code = all_rows.program_of_study_code
        and supply.career_cluster = all_rows.career_cluster
    left join enrollment_shares
        on enrollment_shares.school_year = all_rows.school_year
        and enrollment_shares.cte_region = all_rows.cte_region
)

select
    school_year,
    region_scope,
    cte_region,
    program_of_study_code,
    career_cluster,
    soc_code,
    occupation_title,
    oews_year,
    projections_year,
    annual_median_wage,
    annual_median_wage_flag,
    wage_is_top_coded,
    area_annual_median_wage,
    total_employment,
    total_employment_flag,
    typical_education,
    growth_rate,
    area_growth_rate,
    is_high_wage,
    is_high_skill,
    is_high_demand,
    cast(regional_median_wage as {{ dbt.type_float() }}) as regional_median_wage,
    cast(regional_wage_areas as {{ dbt.type_int() }}) as regional_wage_areas,
    cast(regional_wage_coverage as {{ dbt.type_float() }}) as regional_wage_coverage,
    cast(occupations as {{ dbt.type_int() }}) as occupations,
    cast(high_wage_occupations as {{ dbt.type_int() }}) as high_wage_occupations,
    cast(high_skill_occupations as {{ dbt.type_int() }}) as high_skill_occupations,
    cast(high_demand_occupations as {{ dbt.type_int() }}) as high_demand_occupations,
    cast(state_annual_openings as {{ dbt.type_float() }}) as state_annual_openings,
    cast(region_enrollment_share as {{ dbt.type_float() }}) as region_enrollment_share,
    cast(state_annual_openings * region_enrollment_share as {{ dbt.type_float() }})
        as annual_openings_estimate,
    cast(concentrator_graduates as {{ dbt.type_int() }}) as concentrator_graduates,
    case when state_annual_openings * region_enrollment_share > 0
            then 100.0 * concentrator_graduates / (state_annual_openings * region_enrollment_share)
    end as graduates_per_100_openings,
    {{ is_history_complete('scaled.school_year') }} as is_history_complete
from scaled
