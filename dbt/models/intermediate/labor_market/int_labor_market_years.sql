with years as (
    select school_year from {{ ref('int_reporting_years') }}
),

oews_years as (
    select distinct data_year
    from {{ ref('stg_oews_wages') }}
    where area_code = '{{ var("state_area_code") }}'
),

projection_years as (
    select distinct data_year
    from {{ ref('stg_occupational_projections') }}
    where area_code = '{{ var("state_area_code") }}'
),

education_years as (
    select distinct data_year
    from {{ ref('stg_education_assignments') }}
),

oews_choice as (
    select
        years.school_year,
        coalesce(
            max(case when oews_years.data_year <= years.school_year then oews_years.data_year end),
            min(oews_years.data_year)
        ) as oews_year
    from years
    cross join oews_years
    group by years.school_year
),

projection_choice as (
    select
        years.school_year,
        coalesce(
            max(
                case
                    when projection_years.data_year <= years.school_year
                        then projection_years.data_year
                end
            ),
            min(projection_years.data_year)
        ) as projections_year
    from years
    cross join projection_years
    group by years.school_year
),

education_choice as (
    select
        years.school_year,
        coalesce(
            max(
                case
                    when education_years.data_year <= years.school_year
                        then education_years.data_year
                end
            ),
            min(education_years.data_year)
        ) as education_year
    from years
    cross join education_years
    group by years.school_year
)

select
    years.school_year,
    oews_choice.oews_year,
    projection_choice.projections_year,
    education_choice.education_year
from years
left join oews_choice
    on oews_choice.school_year = years.school_year
left join projection_choice
    on projection_choice.school_year = years.school_year
left join education_choice
    on education_choice.school_year = years.school_year
