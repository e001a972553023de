{#-
    Equity gaps: for every Perkins indicator cell of perkins_indicators, each student
    group's rate minus the all-students rate of the same year, indicator, entity and
    program scope, flagged where the absolute gap exceeds var('equity_gap_threshold').
-#}
{{ config(**year_partitioned()) }}
{%- set years = build_years() -%}
with indicators as (
    select * from {{ ref('perkins_indicators') }}
    where {{ in_build_years('school_year', years) }}
),

all_students as (
    select * from indicators where group_type = 'all'
)

select
    groups.school_year,
    groups.indicator_code,
    groups.level,
    groups.entity_code,
    groups.parent_entity_code,
    groups.district_code,
    groups.location_code,
    groups.program_of_study_code,
    groups.career_cluster,
    groups.group_type,
    groups.group_value,
    groups.numerator,
    groups.denominator,
    groups.rate as group_rate,
    all_students.rate as all_students_rate,
    groups.rate - all_students.rate as gap,
    abs(groups.rate - all_students.rate) > {{ var('equity_gap_threshold') }}
        as is_gap_above_threshold,
    groups.is_history_complete
from indicators as groups
inner join all_students
    on all_students.school_year = groups.school_year
    and all_students.indicator_code = groups.indicator_code
    and all_students.entity_code = groups.entity_code
    and all_students.level = groups.level
    and all_students.program_of_study_code = groups.program_of_study_code
    and all_students.career_cluster = groups.career_cluster
where groups.group_type <> 'all'
