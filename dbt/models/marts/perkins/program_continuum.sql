{{ config(**year_partitioned()) }}
{%- set years = build_years() -%}
{%- set dims = ['school_year', 'program_of_study_code', 'career_cluster', 'step',
                'credential_tier'] -%}

with steps as (
    select
        step_rows.step_order,
        step_rows.step,
        step_rows.credential_tier,
        step_rows.base_step
    from (
        values
        (1, 'participants', 'ALL', 'enrolled_hs'),
        (2, 'concentrators', 'ALL', 'participants'),
        (3, 'work_based_learning', 'ALL', 'concentrators'),
        (4, 'dual_credit', 'ALL', 'concentrators'),
        (5, 'credential_earners', 'ALL', 'concentrators'),
        (6, 'credential_tier', '1', 'credential_earners'),
        (6, 'credential_tier', '2', 'credential_earners'),
        (6, 'credential_tier', '3', 'credential_earners'),
        (6, 'credential_tier', 'UNRATED', 'credential_earners'),
        (7, 'graduates', 'ALL', 'concentrators'),
        (8, 'placed', 'ALL', 'graduates')
    ) as step_rows (step_order, step, credential_tier, base_step)
),

population as (
    select
        programs.student_key,
        programs.school_year,
        programs.program_of_study_code,
        programs.career_cluster,
        programs.is_concentrator,
        spine.district_code,
        spine.location_code,
        spine.has_graduated_in_year,
        coalesce(milestones.has_work_based_learning, false) as has_work_based_learning,
        coalesce(milestones.has_dual_credit, false) as has_dual_credit,
        coalesce(milestones.has_verified_credential, false) as has_verified_credential,
        coalesce(
            cast(milestones.highest_credential_tier as {{ dbt.type_string() }}), 'UNRATED'
        ) as credential_tier,
        coalesce(exit_cohorts.is_placed, false) as is_placed,
        coalesce(exit_cohorts.is_placement_observed, false) as is_placement_observed
    from {{ ref('int_program_concentration') }} as programs
    inner join {{ ref('int_student_years') }} as spine
        on spine.student_key = programs.student_key
        and spine.school_year = programs.school_year
    left join {{ ref('int_student_milestones') }} as milestones
        on milestones.student_key = programs.student_key
        and milestones.school_year = programs.school_year
    left join {{ ref('int_exit_cohorts') }} as exit_cohorts
        on exit_cohorts.student_key = programs.student_key
        and exit_cohorts.school_year = programs.school_year
    where spine.is_enrolled_hs
        and {{ in_build_years('programs.school_year', years) }}
),

student_steps as (
    select
        population.*,
        'participants' as step,
        'ALL' as step_tier
    from population
    union all
    select
        population.*,
        'concentrators' as step,
        'ALL' as step_tier
    from population
    where is_concentrator
    union all
    select
        population.*,
        'work_based_learning' as step,
        'ALL' as step_tier
    from population
    where is_concentrator and has_work_based_learning
    union all
    select
        population.*,
        'dual_credit' as step,
        'ALL' as step_tier
    from population
    where is_concentrator and has_dual_credit
    union all
    select
        population.*,
        'credential_earners' as step,
        'ALL' as step_tier
    from population
    where is_concentrator and has_verified_credential
    union all
    select
        population.*,
        'credential_tier' as step,
        credential_tier as step_tier
    from population
    where is_concentrator and has_verified_credential
    union all
    select
        population.*,
        'graduates' as step,
        'ALL' as step_tier
    from population
    where is_concentrator and has_graduated_in_year
    union all
    select
        population.*,
        'placed' as step,
        'ALL' as step_tier
    from population
    where is_concentrator and has_graduated_in_year and is_placed
),

exploded as (
    select
        student_steps.student_key,
        student_steps.school_year,
        student_steps.district_code,
        student_steps.location_code,
        {{ program_scope_columns('scopes', 'student_steps') }},
        student_steps.step,
        student_steps.step_tier as credential_tier
    from student_steps
    cross join {{ program_scopes_relation() }} as scopes
),

step_counts as (
    select
        {{ dims | join(', ') }},
        district_code,
        location_code,
        count(distinct student_key) as student_count
    from exploded
    group by {{ dims | join(', ') }}, district_code, location_code
),

-- Every step is reported, with 0, for each school and program scope with participants.
school_cells as (
    select
        scoped.school_year,
        scoped.program_of_study_code,
        scoped.career_cluster,
        steps.step,
        steps.credential_tier,
        scoped.district_code,
        scoped.location_code,
        coalesce(step_counts.student_count, 0) as student_count
    from step_counts as scoped
    cross join steps
    left join step_counts
        on step_counts.school_year = scoped.school_year
        and step_counts.district_code = scoped.district_code
        and step_counts.location_code = scoped.location_code
        and step_counts.program_of_study_code = scoped.program_of_study_code
        and step_counts.career_cluster = scoped.career_cluster
        and step_counts.step = steps.step
        and step_counts.credential_tier = steps.credential_tier
    where scoped.step = 'participants'
),

leveled as (
    {{ roll_up_to_levels('school_cells', dims, ['student_count']) }}
),

enrolled_hs_cells as (
    select
        school_year,
        district_code,
        location_code,
        count(*) as student_count
    from {{ ref('int_student_years') }}
    where is_enrolled_hs
        and {{ in_build_years('school_year', years) }}
    group by school_year, district_code, location_code
),

enrolled_hs as (
    {{ roll_up_to_levels('enrolled_hs_cells', ['school_year'], ['student_count']) }}
),

-- A year's placed step is complete when every concentrator graduate's Q is covered.
placement_completeness as (
    select
        school_year,
        min(case when is_placement_observed then 1 else 0 end) = 1 as is_complete
    from population
    where is_concentrator and has_graduated_in_year
    group by school_year
)

select
    leveled.school_year,
    leveled.level,
    leveled.entity_code,
    leveled.parent_entity_code,
    leveled.district_code,
    leveled.location_code,
    leveled.program_of_study_code,
    leveled.career_cluster,
    steps.step_order,
    leveled.step,
    leveled.credential_tier,
    steps.base_step,
    cast(leveled.student_count as {{ dbt.type_int() }}) as student_count,
    cast(
        coalesce(base_steps.student_count, enrolled_hs.student_count)
        as {{ dbt.type_int() }}
    ) as base_count,
    {{ safe_rate('leveled.student_count',
                 'coalesce(base_steps.student_count, enrolled_hs.student_count)') }}
        as rate_of_base,
    leveled.step <> 'placed' or coalesce(placement_completeness.is_complete, true)
        as is_complete,
    {{ is_history_complete('leveled.school_year') }} as is_history_complete
from leveled
inner join steps
    on steps.step = leveled.step
    and steps.credential_tier = leveled.credential_tier
left join leveled as base_steps
    on base_steps.school_year = leveled.school_year
    and base_steps.entity_code = leveled.entity_code
    and base_steps.level = leveled.level
    and base_steps.program_of_study_code = leveled.program_of_study_code
    and base_steps.career_cluster = leveled.career_cluster
    and base_steps.step = steps.base_step
    and base_steps.credential_tier = 'ALL'
left join enrolled_hs
    on steps.base_step = 'enrolled_hs'
    and enrolled_hs.school_year = leveled.school_year
    and enrolled_hs.entity_code = leveled.entity_code
    and enrolled_hs.level = leveled.level
left join placement_completeness
    on placement_completeness.school_year = leveled.school_year
