{#-
    One row per school year, school and program of study with a High-Quality CTE
    self-review (one rating 1..4 per component, the extract's key): how many were rated,
    how many at or above "meets" (formula_parameters quality_meets_rating, 3), that share, and the percentage points the funding formula's
    quality incentive pays for (100 * share).
-#}
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
