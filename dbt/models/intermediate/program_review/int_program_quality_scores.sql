select
    school_year,
    district_code,
    location_code,
    program_of_study_code,
    cast(count(*) as {{ dbt.type_int() }}) as components_rated,
    cast(
        sum(case when rating >= {{ formula_parameter('quality_meets_rating') }} then 1 else 0 end)
        as {{ dbt.type_int() }}
    ) as components_meeting,
    cast(avg(cast(rating as {{ dbt.type_float() }})) as {{ dbt.type_float() }}) as mean_rating,
    {{ safe_rate(
        "sum(case when rating >= " ~ formula_parameter('quality_meets_rating') ~ " then 1 else 0 end)",
        "12") }} as share_meeting,
    cast(100 as {{ type_double() }})
    * sum(case when rating >= {{ formula_parameter('quality_meets_rating') }} then 1 else 0 end)
    / 12 as quality_points
from {{ ref('stg_program_quality_review') }}
where component between 1 and 12
group by school_year, district_code, location_code, program_of_study_code
