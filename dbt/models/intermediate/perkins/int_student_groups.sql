{{ config(**year_partitioned()) }}
{%- set years = build_years() -%}
{%- set flags = ['economically_disadvantaged', 'disability', 'english_learner', 'homeless',
                 'foster_care', 'military_connected', 'migrant', 'single_parent'] -%}
{%- set group_columns = ['sex', 'race_ethnicity'] + flags + ['locale', 'innovation_zone'] -%}

with nontraditional as (
    select distinct
        student_key,
        school_year
    from {{ ref('int_program_concentration') }}
    where is_concentrator
        and {{ in_build_years('school_year', years) }}
        -- as 4S1 reads it: Spark loads the seed's empty cell as '', not null
        and nontraditional_for in ('F', 'M')
),

covered as (
    select spine.*
    from {{ ref('int_student_years') }} as spine
    where {{ in_build_years('spine.school_year', years) }}
        and (
            spine.is_enrolled_hs
            or exists (
                select 1
                from {{ ref('int_program_concentration') }} as programs
                where programs.student_key = spine.student_key
                    and programs.school_year = spine.school_year
            )
        )
)

select
    student_key,
    school_year,
    'all' as group_type,
    'ALL' as group_value
from covered
{% for column in group_columns %}
union all
select
    student_key,
    school_year,
    '{{ column }}' as group_type,
    coalesce({{ column }}, 'UNKNOWN') as group_value
from covered
{% endfor %}
union all
select
    covered.student_key,
    covered.school_year,
    'nontraditional' as group_type,
    case when nontraditional.student_key is not null then 'Y' else 'N' end as group_value
from covered
left join nontraditional
    on nontraditional.student_key = covered.student_key
    and nontraditional.school_year = covered.school_year
