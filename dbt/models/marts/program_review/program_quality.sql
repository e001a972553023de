with scores as (
    select * from {{ ref('int_program_quality_scores') }}
),

concentrators as (
    select
        school_year,
        district_code,
        location_code,
        program_of_study_code,
        student_count
    from {{ ref('program_continuum') }}
    where level = 'school' and step = 'concentrators'
),

indicators as (
    select
        school_year,
        district_code,
        location_code,
        program_of_study_code,
        sum(case when indicator_code = '1S1' then numerator end) as graduation_numerator,
        sum(case when indicator_code = '1S1' then denominator end) as graduation_denominator,
        sum(case when indicator_code = '3S1' then numerator end) as placement_numerator,
        sum(case when indicator_code = '3S1' then denominator end) as placement_denominator,
        sum(case when indicator_code = '5S1' then numerator end) as credential_numerator,
        sum(case when indicator_code = '5S1' then denominator end) as credential_denominator
    from {{ ref('perkins_indicators') }}
    where level = 'school' and group_type = 'all'
        and indicator_code in ('1S1', '3S1', '5S1')
    group by school_year, district_code, location_code, program_of_study_code
),

employment as (
    select
        exit_year,
        district_code,
        location_code,
        program_of_study_code,
        q2_observed_leavers,
        employed_q2
    from {{ ref('program_outcomes') }}
    where level = 'school'
)

select
    scores.school_year,
    scores.district_code,
    scores.location_code,
    scores.program_of_study_code,
    scores.components_rated,
    scores.components_meeting,
    scores.share_meeting,
    scores.mean_rating,
    cast(coalesce(concentrators.student_count, 0) as {{ dbt.type_int() }}) as concentrators,
    cast(coalesce(indicators.graduation_numerator, 0) as {{ dbt.type_int() }})
        as graduation_numerator,
    cast(coalesce(indicators.graduation_denominator, 0) as {{ dbt.type_int() }})
        as graduation_denominator,
    {{ safe_rate('indicators.graduation_numerator', 'indicators.graduation_denominator') }}
        as graduation_rate,
    cast(coalesce(indicators.placement_numerator, 0) as {{ dbt.type_int() }})
        as placement_numerator,
    cast(coalesce(indicators.placement_denominator, 0) as {{ dbt.type_int() }})
        as placement_denominator,
    {{ safe_rate('indicators.placement_numerator', 'indicators.placement_denominator') }}
        as placement_rate,
    cast(coalesce(indicators.credential_numerator, 0) as {{ dbt.type_int() }})
        as credential_numerator,
    cast(coalesce(indicators.credential_denominator, 0) as {{ dbt.type_int() }})
        as credential_denominator,
    {{ safe_rate('indicators.credential_numerator', 'indicators.credential_denominator') }}
        as credential_rate,
    cast(coalesce(employment.q2_observed_leavers, 0) as {{ dbt.type_int() }})
        as q2_observed_leavers,
    cast(coalesce(employment.employed_q2, 0) as {{ dbt.type_int() }}) as employed_q2,
    {{ safe_rate('employment.employed_q2', 'employment.q2_observed_leavers') }}
        as employment_rate_q2,
    {{ is_history_complete('scores.school_year') }} as is_history_complete
from scores
left join concentrators
    on concentrators.school_year = scores.school_year
    and concentrators.district_code = scores.district_code
    and concentrators.location_code = scores.location_code
    and concentrators.program_of_study_code = scores.program_of_study_code
left join indicators
    on indicators.school_year = scores.school_year
    and indicators.district_code = scores.district_code
    and indicators.location_code = scores.location_code
    and indicators.program_of_study_code = scores.program_of_study_code
left join employment
    on employment.exit_year = scores.school_year
    and employment.district_code = scores.district_code
    and employment.location_code = scores.location_code
    and employment.program_of_study_code = scores.program_of_study_code
