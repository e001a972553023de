{%- set unsustained = var('unsustained_wbl_types') -%}
with population as (
    select distinct
        student_key,
        school_year
    from {{ ref('int_program_concentration') }}
),

credentials as (
    select
        credential_code,
        tier
    from {{ ref('stg_credentials') }}
),

work_based as (
    select
        population.student_key,
        population.school_year
    from population
    inner join {{ ref('stg_work_based_learning') }} as wbl
        on wbl.student_key = population.student_key
        and wbl.school_year <= population.school_year
    {%- if unsustained %}
    where wbl.wbl_type is null or wbl.wbl_type not in {{ sql_string_list(unsustained) }}
    {%- endif %}
    group by population.student_key, population.school_year
),

dual_credit as (
    select
        population.student_key,
        population.school_year
    from population
    inner join {{ ref('int_course_completions') }} as courses
        on courses.student_key = population.student_key
        and courses.school_year <= population.school_year
    where courses.is_completed
        and courses.is_dual_credit
        and courses.is_high_school_year
    group by population.student_key, population.school_year
),

earned as (
    select
        population.student_key,
        population.school_year,
        min(credentials.tier) as highest_credential_tier
    from population
    inner join {{ ref('stg_credential_attainment') }} as attainment
        on attainment.student_key = population.student_key
        and {{ school_year_of('attainment.earned_date') }} <= population.school_year
    left join credentials
        on credentials.credential_code = attainment.credential_code
    where attainment.is_verified
    group by population.student_key, population.school_year
)

select
    population.student_key,
    population.school_year,
    work_based.student_key is not null as has_work_based_learning,
    dual_credit.student_key is not null as has_dual_credit,
    earned.student_key is not null as has_verified_credential,
    earned.highest_credential_tier
from population
left join work_based
    on work_based.student_key = population.student_key
    and work_based.school_year = population.school_year
left join dual_credit
    on dual_credit.student_key = population.student_key
    and dual_credit.school_year = population.school_year
left join earned
    on earned.student_key = population.student_key
    and earned.school_year = population.school_year
