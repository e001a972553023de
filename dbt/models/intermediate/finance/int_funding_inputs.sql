with schools as (
    select
        school_year,
        district_code,
        sum(case when offers_cte then 1 else 0 end) as cte_schools,
        sum(high_school_students) as enrolled_students,
        sum(participants) as participants,
        sum(concentrators) as concentrators,
        sum(high_cost_concentrators) as high_cost_concentrators,
        sum(tier_1_credentials) as tier_1_credentials,
        sum(tier_2_credentials) as tier_2_credentials,
        sum(tier_3_credentials) as tier_3_credentials
    from {{ ref('int_school_cte_profile') }}
    group by school_year, district_code
),

-- Programs' points are fractions (100 / 12 a component): a sorted sum, the same bits in
-- every build (decision 0035).
quality as (
    select
        school_year,
        district_code,
        {{ sorted_sum('quality_points') }} as quality_points
    from {{ ref('int_program_quality_scores') }}
    group by school_year, district_code
)

select
    schools.school_year as fiscal_year,
    schools.district_code,
    cast(schools.cte_schools as {{ dbt.type_int() }}) as cte_schools,
    cast(schools.enrolled_students as {{ dbt.type_int() }}) as enrolled_students,
    cast(schools.participants as {{ dbt.type_int() }}) as participants,
    cast(schools.concentrators as {{ dbt.type_int() }}) as concentrators,
    cast(schools.high_cost_concentrators as {{ dbt.type_int() }}) as high_cost_concentrators,
    cast(schools.tier_1_credentials as {{ dbt.type_int() }}) as tier_1_credentials,
    cast(schools.tier_2_credentials as {{ dbt.type_int() }}) as tier_2_credentials,
    cast(schools.tier_3_credentials as {{ dbt.type_int() }}) as tier_3_credentials,
    cast(coalesce(quality.quality_points, 0) as {{ dbt.type_float() }}) as quality_points
from schools
left join quality
    on quality.school_year = schools.school_year
    and quality.district_code = schools.district_code
