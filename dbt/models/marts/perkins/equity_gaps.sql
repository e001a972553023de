{{ config(**year_partitioned()) }}
{%- set years = build_years() -%}
with indicators as (
    select * from {{ ref('perkins_indicators') }}
    where {{ in_build_years('school_year', years) }}
),

all_students as (
    select * from indicators
    where group_type = 'all'
)

select
    group_rows.school_year,
    group_rows.indicator_code,
    group_rows.level,
    group_rows.entity_code,
    group_rows.parent_entity_code,
    group_rows.district_code,
    group_rows.location_code,
    group_rows.program_of_study_code,
    group_rows.career_cluster,
    group_rows.group_type,
    group_rows.group_value,
    group_rows.numerator,
    group_rows.denominator,
    group_rows.rate as group_rate,
    all_students.rate as all_students_rate,
    group_rows.rate - all_students.rate as gap,
    abs(group_rows.rate - all_students.rate) > {{ var('equity_gap_threshold') }}
        as is_gap_above_threshold,
    group_rows.is_history_complete
from indicators as group_rows
inner join all_students
    on all_students.school_year = group_rows.school_year
    and all_students.indicator_code = group_rows.indicator_code
    and all_students.entity_code = group_rows.entity_code
    and all_students.level = group_rows.level
    and all_students.program_of_study_code = group_rows.program_of_study_code
    and all_students.career_cluster = group_rows.career_cluster
where group_rows.group_type <> 'all'
