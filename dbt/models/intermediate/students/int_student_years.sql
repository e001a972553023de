{{ config(**student_partitioned()) }}
{%- set flags = ['economically_disadvantaged', 'disability', 'english_learner', 'homeless',
                 'foster_care', 'military_connected', 'migrant', 'single_parent'] -%}
{#- The columns of a year's last row that the model reads: a student's rows are a function
    of these and is_enrolled_hs in each year the student has rows (decision 0049). -#}
{%- set record_columns = ['district_code', 'location_code', 'grade_level', 'grade_number',
                          'sex', 'race_ethnicity'] + flags
                          + ['cohort_year', 'exit_code', 'exit_date'] -%}
{%- set last_row_order -%}
case when exit_date is null then 0 else 1 end,
exit_date desc,
district_code desc,
location_code desc
{%- endset -%}
{%- set hs_row = 'case when grade_number between 9 and 12 then 1 else 0 end' -%}

{#- Decision 0049: rebuild the students whose year summary (the year's last row and
    is_enrolled_hs, or no row) changed in a school year whose enrollment changed, compared
    with the rows of that year built last time; where a changed year is not a reporting
    year (no row holds its summary), every student with a row of it, now or when built. -#}
{%- set years = student_build_years('stg_student_enrollment') -%}
{%- set differs = [] -%}
{%- for column in record_columns + ['is_enrolled_hs'] -%}
    {%- do differs.append(
        'new_years.' ~ column ~ ' is distinct from built_years.' ~ column) -%}
{%- endfor -%}
{%- set affected -%}
with reporting_years as (
    select school_year from {{ ref('int_reporting_years') }}
),

new_rows as (
    select
        student_key,
        school_year,
        {{ record_columns | join(', ') }},
        row_number() over (
            partition by student_key, school_year order by {{ last_row_order }}
        ) as row_rank,
        max({{ hs_row }}) over (partition by student_key, school_year) = 1 as is_enrolled_hs
    from {{ ref('stg_student_enrollment') }}
    where
        {{ in_build_years('school_year', years) }}
        and school_year in (select school_year from reporting_years)
),

new_years as (
    select * from new_rows
    where row_rank = 1
),

built_years as (
    select * from {{ this }}
    where
        {{ in_build_years('record_school_year', years) }}
        and school_year = record_school_year
)

select coalesce(new_years.student_key, built_years.student_key) as student_key
from new_years
full join built_years
    on
        built_years.student_key = new_years.student_key
        and built_years.school_year = new_years.school_year
where
    new_years.student_key is null
    or built_years.student_key is null
    or {{ differs | join('\n    or ') }}
union all
select student_key from {{ ref('stg_student_enrollment') }}
where
    {{ in_build_years('school_year', years) }}
    and school_year not in (select school_year from reporting_years)
union all
select student_key from {{ this }}
where
    {{ in_build_years('record_school_year', years) }}
    and record_school_year not in (select school_year from reporting_years)
{%- endset -%}
{%- set students = build_students(years, affected) -%}

with enrollment as (
    select * from {{ ref('stg_student_enrollment') }}
    where {{ in_build_students('student_key', students) }}
),

years as (
    select school_year as reporting_year from {{ ref('int_reporting_years') }}
),

schools as (
    select
        district_code,
        location_code,
        locale,
        innovation_zone,
        rural_alliance,
        cte_region
    from {{ ref('stg_schools') }}
),

ranked_rows as (
    select
        enrollment.*,
        row_number() over (
            partition by student_key, school_year
            order by {{ last_row_order }}
        ) as row_rank
    from enrollment
),

year_presence as (
    select
        student_key,
        school_year,
        max({{ hs_row }}) = 1 as is_enrolled_hs
    from enrollment
    group by student_key, school_year
),

-- The last row of each year the student has rows in, valid until the next such year.
last_rows as (
    select
        ranked_rows.*,
        lead(school_year) over (partition by student_key order by school_year)
            as next_record_year,
        coalesce(
            exit_code = 'TRANSFERRED_OUT'
            and lead(school_year) over (partition by student_key order by school_year)
            is not null,
            false
        ) as is_final_status_revised
    from ranked_rows
    where row_rank = 1
),

-- The student's latest row known, which supersedes an earlier year's TRANSFERRED_OUT.
latest_rows as (
    select
        student_key,
        exit_code,
        exit_date,
        {{ school_year_of('exit_date') }} as exit_school_year
    from (
        select
            student_key,
            exit_code,
            exit_date,
            row_number() over (partition by student_key order by school_year desc) as year_rank
        from last_rows
    ) as ranked_years
    where year_rank = 1
)

select
    last_rows.student_key,
    years.reporting_year as school_year,
    last_rows.school_year as record_school_year,
    last_rows.school_year = years.reporting_year as is_enrolled,
    coalesce(year_presence.is_enrolled_hs, false) as is_enrolled_hs,
    {% for column in record_columns -%}
    last_rows.{{ column }},
    {% endfor -%}
    {{ school_year_of('last_rows.exit_date') }} as exit_school_year,
    coalesce(
        last_rows.exit_code in ('GRADUATED', 'DROPPED', 'OTHER')
        and {{ school_year_of('last_rows.exit_date') }} = years.reporting_year,
        false
    ) as has_left_in_year,
    coalesce(
        last_rows.exit_code = 'GRADUATED'
        and {{ school_year_of('last_rows.exit_date') }} = years.reporting_year,
        false
    ) as has_graduated_in_year,
    case
        when last_rows.is_final_status_revised then latest_rows.exit_code
        else last_rows.exit_code
    end as final_exit_code,
    case
        when last_rows.is_final_status_revised then latest_rows.exit_school_year
        else {{ school_year_of('last_rows.exit_date') }}
    end as final_exit_school_year,
    last_rows.is_final_status_revised,
    schools.locale,
    schools.innovation_zone,
    schools.rural_alliance,
    schools.cte_region
from last_rows
inner join years
    on years.reporting_year >= last_rows.school_year
    and (last_rows.next_record_year is null or years.reporting_year < last_rows.next_record_year)
inner join latest_rows
    on latest_rows.student_key = last_rows.student_key
left join year_presence
    on year_presence.student_key = last_rows.student_key
    and year_presence.school_year = years.reporting_year
left join schools
    on schools.district_code = last_rows.district_code
    and schools.location_code = last_rows.location_code
