with years as (
    select * from {{ ref('int_labor_market_years') }}
),

oews as (
    select
        data_year,
        soc_code,
        occupation_title,
        occupation_group,
        total_employment,
        total_employment_flag,
        {{ oews_wage('annual_median_wage', 'annual_median_wage_flag') }} as annual_median_wage,
        annual_median_wage_flag,
        coalesce(annual_median_wage_flag = '#', false) as wage_is_top_coded
    from {{ ref('stg_oews_wages') }}
    where area_code = '{{ var("state_area_code") }}'
),

projections as (
    select
        data_year,
        soc_code,
        occupation_title,
        base_employment,
        projected_employment,
        annual_openings,
        typical_education
    from {{ ref('stg_occupational_projections') }}
    where area_code = '{{ var("state_area_code") }}'
),

year_oews as (
    select
        years.school_year,
        oews.*
    from years
    inner join oews on oews.data_year = years.oews_year
),

year_projections as (
    select
        years.school_year,
        projections.*
    from years
    inner join projections on projections.data_year = years.projections_year
),

year_education as (
    select
        years.school_year,
        education.soc_code,
        education.typical_education
    from years
    inner join {{ ref('stg_education_assignments') }} as education
        on education.data_year = years.education_year
),

-- Growth of all occupations of the area: its 00-0000 row, else the sum of its detailed
-- occupations (a SOC code ending in 0 is a group: broad, minor or major).
area_growth as (
    select
        school_year,
        coalesce(
            max(case when soc_code = '00-0000'
                    then {{ safe_rate('projected_employment - base_employment',
                                      'base_employment') }}
            end),
            {{ safe_rate(
                "sum(case when is_detailed then projected_employment - base_employment end)",
                "sum(case when is_detailed then base_employment end)") }}
        ) as area_growth_rate
    from (
        -- A SOC code ending in 0 is a group (broad, minor, major): Projections Central
        -- lists broad occupations beside their detailed ones.
        select
            year_projections.*,
            right(soc_code, 1) <> '0' as is_detailed
        from year_projections
    ) as rows_with_level
    group by school_year
),

area_wage as (
    select
        school_year,
        annual_median_wage as area_annual_median_wage,
        annual_median_wage_flag as area_annual_median_wage_flag
    from year_oews
    where soc_code = '00-0000'
),

occupations as (
    select
        school_year,
        soc_code
    from year_oews
    union
    select
        school_year,
        soc_code
    from year_projections
),

-- Typical education: the BLS table's, else the projections file's own (contract layout).
occupation_education as (
    select
        occupations.school_year,
        occupations.soc_code,
        coalesce(year_education.typical_education, year_projections.typical_education)
            as typical_education
    from occupations
    left join year_education
        on year_education.school_year = occupations.school_year
        and year_education.soc_code = occupations.soc_code
    left join year_projections
        on year_projections.school_year = occupations.school_year
        and year_projections.soc_code = occupations.soc_code
)

select
    occupations.school_year,
    years.oews_year,
    years.projections_year,
    occupations.soc_code,
    occupations.soc_code = '00-0000' as is_all_occupations,
    coalesce(year_oews.occupation_title, year_projections.occupation_title) as occupation_title,
    year_oews.total_employment,
    year_oews.total_employment_flag,
    year_oews.annual_median_wage,
    year_oews.annual_median_wage_flag,
    coalesce(year_oews.wage_is_top_coded, false) as wage_is_top_coded,
    area_wage.area_annual_median_wage,
    year_projections.base_employment,
    year_projections.projected_employment,
    year_projections.annual_openings,
    occupation_education.typical_education,
    {{ safe_rate('year_projections.projected_employment - year_projections.base_employment',
                 'year_projections.base_employment') }} as growth_rate,
    area_growth.area_growth_rate,
    year_oews.annual_median_wage >= area_wage.area_annual_median_wage as is_high_wage,
    case
        when occupation_education.typical_education is null then null
        when occupation_education.typical_education in
            {{ sql_string_list(var('high_skill_excluded_education')) }} then false
        else true
    end as is_high_skill,
    case
        when year_projections.annual_openings >= {{ var('high_demand_openings') }} then true
        when {{ safe_rate(
                'year_projections.projected_employment - year_projections.base_employment',
                'year_projections.base_employment') }}
            > area_growth.area_growth_rate then true
        when year_projections.annual_openings is null then null
        else false
    end as is_high_demand
from occupations
inner join years
    on years.school_year = occupations.school_year
left join year_oews
    on year_oews.school_year = occupations.school_year
    and year_oews.soc_code = occupations.soc_code
left join year_projections
    on year_projections.school_year = occupations.school_year
    and year_projections.soc_code = occupations.soc_code
left join occupation_education
    on occupation_education.school_year = occupations.school_year
    and occupation_education.soc_code = occupations.soc_code
left join area_wage
    on area_wage.school_year = occupations.school_year
left join area_growth
    on area_growth.school_year = occupations.school_year
