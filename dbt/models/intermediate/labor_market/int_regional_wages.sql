with years as (
    select
        school_year,
        oews_year
    from {{ ref('int_labor_market_years') }}
),

district_areas as (
    select
        districts.district_code,
        areas.area_code
    from {{ ref('stg_district_counties') }} as districts
    inner join {{ ref('stg_labor_market_areas') }} as areas
        on areas.county = districts.county
),

-- The weights: the region's grade 9-12 students at schools of each area.
students as (
    select
        spine.school_year,
        cast(spine.cte_region as {{ dbt.type_string() }}) as cte_region,
        district_areas.area_code,
        count(*) as students_hs
    from {{ ref('int_student_years') }} as spine
    inner join district_areas
        on district_areas.district_code = spine.district_code
    where spine.is_enrolled_hs and spine.is_enrolled and spine.cte_region is not null
    group by
        spine.school_year,
        cast(spine.cte_region as {{ dbt.type_string() }}),
        district_areas.area_code
),

region_students as (
    select
        school_year,
        cte_region,
        sum(students_hs) as students_hs
    from students
    group by school_year, cte_region
),

-- One wage per area and occupation: a state file holding every area and the area's own
-- workbook of the same release may both be current, with the same figures. In cents, so
-- the student-weighted sum below is exact in any order (decision 0035).
area_wages as (
    select
        years.school_year,
        wages.area_code,
        wages.soc_code,
        cast(
            max({{ oews_wage('wages.annual_median_wage', 'wages.annual_median_wage_flag') }})
            as decimal(18, 2)
        ) as annual_median_wage
    from years
    inner join {{ ref('stg_oews_wages') }} as wages
        on wages.data_year = years.oews_year
    where wages.area_code <> '{{ var("state_area_code") }}'
        and (wages.annual_median_wage is not null or wages.annual_median_wage_flag = '#')
    group by years.school_year, wages.area_code, wages.soc_code
)

select
    students.school_year,
    students.cte_region,
    area_wages.soc_code,
    cast(sum(students.students_hs * area_wages.annual_median_wage) as {{ type_double() }})
    / sum(students.students_hs) as regional_median_wage,
    count(*) as regional_wage_areas,
    {{ safe_rate('sum(students.students_hs)', 'max(region_students.students_hs)') }}
        as regional_wage_coverage
from students
inner join area_wages
    on area_wages.school_year = students.school_year
    and area_wages.area_code = students.area_code
inner join region_students
    on region_students.school_year = students.school_year
    and region_students.cte_region = students.cte_region
group by students.school_year, students.cte_region, area_wages.soc_code
