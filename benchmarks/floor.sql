-- The floor: the least work that gives the pipeline's key results from the same raw files.
--
-- Every landed CSV is read once into an in-memory DuckDB table, then ONE script computes
-- concentrators and the Perkins V secondary indicators (1S1, 1S2, 2S1-2S3, 3S1, 4S1,
-- 5S1-5S3) for all students at state, district and school level, by the business rules of
-- measures.md. No contract checks, pseudonymization, quarantine, expectations, orchestration,
-- other marts or publishing: what is left is the cost of reading and aggregating, which is
-- what a full rebuild is compared to.
--
-- benchmarks/floor.py sets file_search_path to the landing zone and the dbt seeds, so the
-- paths below are relative. Assumes one submission per (extract, district, year), as the
-- generated benchmark data has. Result: table floor_results(school_year, indicator_code,
-- level, entity_code, numerator, denominator), indicator 'CONC' = concentrators enrolled in
-- high school (numerator = denominator = the count).

create macro school_year_of(d) as year(d) + case when month(d) >= 7 then 1 else 0 end;
create macro quarter_index(d) as year(d) * 4 + quarter(d) - 1;

-- 1. Read every landed CSV once (names and birth dates are dropped as the loader drops them).
create table student_enrollment as
select * exclude (last_name, first_name, birth_date)
from read_csv('enrollment/student_enrollment/*.csv', header = true, types = {
    'student_id': 'VARCHAR', 'district_code': 'VARCHAR', 'location_code': 'VARCHAR',
    'school_year': 'INTEGER', 'grade_level': 'VARCHAR', 'cohort_year': 'INTEGER',
    'exit_code': 'VARCHAR', 'exit_date': 'DATE'});

create table cte_course_enrollment as
select * from read_csv('enrollment/cte_course_enrollment/*.csv', header = true, types = {
    'student_id': 'VARCHAR', 'district_code': 'VARCHAR', 'location_code': 'VARCHAR',
    'school_year': 'INTEGER', 'course_code': 'VARCHAR', 'completed': 'VARCHAR',
    'dual_credit': 'VARCHAR'});

create table assessment_results as
select * from read_csv('enrollment/assessment_results/*.csv', header = true, types = {
    'student_id': 'VARCHAR', 'district_code': 'VARCHAR', 'school_year': 'INTEGER',
    'subject': 'VARCHAR', 'proficient': 'VARCHAR'});

create table program_quality_review as
select * from read_csv('enrollment/program_quality_review/*.csv', header = true, types = {
    'district_code': 'VARCHAR', 'location_code': 'VARCHAR'});

-- credential_attainment and postsecondary_enrollment: read by floor.py (their files may come
-- in a publisher's layout: PED's STARS template, the Clearinghouse's StudentTracker return).

create table work_based_learning as
select * from read_csv('credentials/work_based_learning/*.csv', header = true, types = {
    'student_id': 'VARCHAR', 'district_code': 'VARCHAR', 'school_year': 'INTEGER',
    'employer_naics': 'VARCHAR'});

create table school_expenditures as
select * from read_csv('finance/school_expenditures/*.csv', header = true, types = {
    'district_code': 'VARCHAR', 'location_code': 'VARCHAR', 'fund': 'VARCHAR',
    'function': 'VARCHAR', 'object': 'VARCHAR', 'program_code': 'VARCHAR'});

create table grant_awards as
select * from read_csv('finance/grant_awards/*.csv', header = true, types = {
    'district_code': 'VARCHAR'});

-- OEWS wages are not read: no indicator uses them, and a year may land only as the BLS
-- workbook (.xlsx), which read_csv cannot open.

create table occupational_projections as
select * from read_csv('labor_market/occupational_projections/*.csv', header = true,
    types = {'area': 'VARCHAR', 'soc_code': 'VARCHAR'});

create table wage_records as
select * from read_csv('labor_market/wage_records/*.csv', header = true, types = {
    'student_id': 'VARCHAR', 'year': 'INTEGER', 'quarter': 'INTEGER',
    'employer_naics': 'VARCHAR', 'wages': 'DECIMAL(18, 2)'});

create table military_enlistment as
select * from read_csv('labor_market/military_enlistment/*.csv', header = true,
    types = {'student_id': 'VARCHAR', 'enlist_date': 'DATE'});

create table courses as
select * from read_csv('courses.csv', header = true, all_varchar = true);

create table programs_of_study as
select * from read_csv('programs_of_study.csv', header = true, all_varchar = true);

-- 2. Who is where, as of each reporting year Y.
create temp table reporting_years as
select distinct school_year from student_enrollment;

create temp table high_school_years as
select distinct student_id, school_year
from student_enrollment
where cast(grade_level as integer) between 9 and 12;

-- The last enrollment row of each year a student has rows in, valid until the next such year.
create temp table last_rows as
select *, lead(school_year) over (partition by student_id order by school_year) as next_year
from (
    select student_id, school_year, district_code, location_code, sex, cohort_year,
        exit_code, exit_date
    from student_enrollment
    qualify row_number() over (
        partition by student_id, school_year
        order by exit_date is not null, exit_date desc, district_code desc, location_code desc
    ) = 1
);

-- 3. Concentrators as of Y: two distinct courses of one program completed in high school.
create temp table first_completions as
select c.student_id, m.program_of_study_code, c.course_code, min(c.school_year) as first_year
from cte_course_enrollment as c
inner join courses as m on m.course_code = c.course_code
inner join high_school_years as h on h.student_id = c.student_id and h.school_year = c.school_year
where c.completed = 'Y' and m.program_of_study_code is not null
group by all;

create temp table program_concentrators as
select f.student_id, y.school_year, f.program_of_study_code,
    any_value(p.nontraditional_for) as nontraditional_for
from first_completions as f
inner join reporting_years as y on y.school_year >= f.first_year
left join programs_of_study as p on p.program_of_study_code = f.program_of_study_code
group by all
having count(*) >= 2;

-- One row per concentrator and Y (all programs together), described as of Y by the last
-- enrollment row up to Y. 4S1 counts a student once, in its numerator if the student's sex
-- is nontraditional for any of the student's programs.
create temp table concentrators as
select
    c.student_id, c.school_year, r.district_code, r.location_code, r.sex, r.cohort_year,
    r.exit_code, r.exit_date,
    school_year_of(r.exit_date) as exit_school_year,
    h.student_id is not null as is_enrolled_hs,
    coalesce(r.exit_code in ('GRADUATED', 'DROPPED', 'OTHER')
        and school_year_of(r.exit_date) = c.school_year, false) as has_left,
    coalesce(r.exit_code = 'GRADUATED'
        and school_year_of(r.exit_date) = c.school_year, false) as has_graduated,
    len(c.nontraditional_sexes) > 0 as in_nontraditional,
    list_contains(c.nontraditional_sexes, r.sex) as nontraditional_sex_match
from (
    select student_id, school_year,
        list(distinct nontraditional_for) filter (where nontraditional_for in ('F', 'M'))
            as nontraditional_sexes
    from program_concentrators
    group by all
) as c
inner join last_rows as r
    on r.student_id = c.student_id and r.school_year <= c.school_year
    and (r.next_year is null or c.school_year < r.next_year)
left join high_school_years as h on h.student_id = c.student_id and h.school_year = c.school_year;

-- 4. Outcomes of graduates and leavers.
create temp table latest_assessments as
select g.student_id, g.school_year, a.subject,
    arg_max(a.proficient = 'Y', a.school_year) as is_proficient
from concentrators as g
inner join assessment_results as a
    on a.student_id = g.student_id and a.school_year <= g.school_year
where g.has_graduated and a.subject in ('RLA', 'MATH', 'SCI')
group by all;

create temp table placements as
select l.student_id, l.school_year
from concentrators as l
where l.has_left and (
    exists (
        select 1 from postsecondary_enrollment as p
        where p.student_id = l.student_id and p.term_start >= l.exit_date
            and quarter_index(p.term_start) <= quarter_index(l.exit_date) + 2)
    or exists (
        select 1 from military_enlistment as m
        where m.student_id = l.student_id
            and quarter_index(m.enlist_date) <= quarter_index(l.exit_date) + 2)
    or exists (
        select 1 from wage_records as w
        where w.student_id = l.student_id
            and w.year * 4 + w.quarter - 1 = quarter_index(l.exit_date) + 2
        group by w.student_id
        having sum(w.wages) > 0)
);

-- 5. Students per indicator (denominator rows) with their numerator flag.
create temp table indicator_students as
select student_id, school_year, district_code, location_code, '1S1' as indicator_code,
    exit_code = 'GRADUATED' and exit_school_year <= school_year as is_numerator
from concentrators
where cohort_year = school_year and exit_code <> 'TRANSFERRED_OUT'
union all
select student_id, school_year, district_code, location_code, '1S2',
    exit_code = 'GRADUATED' and exit_school_year <= school_year
from concentrators
where cohort_year = school_year - 1 and exit_code <> 'TRANSFERRED_OUT'
union all
select c.student_id, c.school_year, c.district_code, c.location_code,
    case a.subject when 'RLA' then '2S1' when 'MATH' then '2S2' else '2S3' end,
    a.is_proficient
from concentrators as c
inner join latest_assessments as a on a.student_id = c.student_id and a.school_year = c.school_year
union all
select c.student_id, c.school_year, c.district_code, c.location_code, '3S1',
    p.student_id is not null
from concentrators as c
left join placements as p on p.student_id = c.student_id and p.school_year = c.school_year
where c.has_left
union all
select student_id, school_year, district_code, location_code, '4S1', nontraditional_sex_match
from concentrators
where is_enrolled_hs and in_nontraditional and sex in ('F', 'M')
union all
select c.student_id, c.school_year, c.district_code, c.location_code, '5S1',
    exists (
        select 1 from credential_attainment as k
        where k.student_id = c.student_id and k.verified = 'Y' and k.earned_date <= c.exit_date)
from concentrators as c
where c.has_graduated
union all
select c.student_id, c.school_year, c.district_code, c.location_code, '5S2',
    exists (
        select 1
        from cte_course_enrollment as k
        inner join high_school_years as h
            on h.student_id = k.student_id and h.school_year = k.school_year
        where k.student_id = c.student_id and k.school_year <= c.school_year
            and k.completed = 'Y' and k.dual_credit = 'Y')
from concentrators as c
where c.has_graduated
union all
select c.student_id, c.school_year, c.district_code, c.location_code, '5S3',
    exists (
        select 1 from work_based_learning as w
        where w.student_id = c.student_id and w.school_year <= c.school_year)
from concentrators as c
where c.has_graduated
union all
select student_id, school_year, district_code, location_code, 'CONC', true
from concentrators
where is_enrolled_hs;

-- 6. School cells rolled up to district and state (each student sits in one school per Y).
create table floor_results as
select
    school_year,
    indicator_code,
    case
        when grouping(location_code) = 0 then 'school'
        when grouping(district_code) = 0 then 'district'
        else 'state'
    end as level,
    case
        when grouping(location_code) = 0 then district_code || '-' || location_code
        when grouping(district_code) = 0 then district_code
        else 'NM'
    end as entity_code,
    count(*) filter (where coalesce(is_numerator, false)) as numerator,
    count(*) as denominator
from indicator_students
group by grouping sets (
    (school_year, indicator_code, district_code, location_code),
    (school_year, indicator_code, district_code),
    (school_year, indicator_code)
);
