{%- set dims = ['school_year', 'career_cluster', 'credential_tier'] -%}

-- A row counts in its own cluster or tier (false) and in ALL (true).
with scopes as (
    select true as is_all
    union all
    select false as is_all
),

credential_list as (
    select
        credential_code,
        cast(tier as {{ dbt.type_string() }}) as credential_tier,
        is_industry_requested,
        career_cluster
    from {{ ref('stg_credentials') }}
),

earned as (
    select
        attainment.student_key,
        spine.school_year,
        spine.district_code,
        spine.location_code,
        coalesce(credential_list.career_cluster, 'UNMAPPED') as career_cluster,
        coalesce(credential_list.credential_tier, 'UNRATED') as credential_tier,
        coalesce(credential_list.is_industry_requested, false) as is_industry_requested
    from {{ ref('stg_credential_attainment') }} as attainment
    inner join {{ ref('int_student_years') }} as spine
        on spine.student_key = attainment.student_key
        and spine.school_year = {{ school_year_of('attainment.earned_date') }}
    left join credential_list
        on credential_list.credential_code = attainment.credential_code
    where attainment.is_verified
),

-- Each credential counts for its cluster and tier, the cluster's ALL tier, ALL clusters.
earned_scoped as (
    select
        earned.student_key,
        earned.school_year,
        earned.district_code,
        earned.location_code,
        case when cluster_scope.is_all then 'ALL' else earned.career_cluster end
            as career_cluster,
        case when tier_scope.is_all then 'ALL' else earned.credential_tier end
            as credential_tier,
        earned.is_industry_requested
    from earned
    cross join scopes as cluster_scope
    cross join scopes as tier_scope
),

credential_cells as (
    select
        school_year,
        district_code,
        location_code,
        career_cluster,
        credential_tier,
        count(*) as credentials_earned,
        sum(case when is_industry_requested then 1 else 0 end)
            as industry_requested_credentials,
        count(distinct student_key) as credential_earners
    from earned_scoped
    group by school_year, district_code, location_code, career_cluster, credential_tier
),

concentrator_rows as (
    select
        programs.student_key,
        programs.school_year,
        spine.district_code,
        spine.location_code,
        programs.career_cluster
    from {{ ref('int_program_concentration') }} as programs
    inner join {{ ref('int_student_years') }} as spine
        on spine.student_key = programs.student_key
        and spine.school_year = programs.school_year
    where programs.is_concentrator
        and spine.is_enrolled_hs
),

concentrator_cells as (
    select
        concentrator_rows.school_year,
        concentrator_rows.district_code,
        concentrator_rows.location_code,
        case when cluster_scope.is_all then 'ALL' else concentrator_rows.career_cluster end
            as career_cluster,
        count(distinct concentrator_rows.student_key) as concentrators
    from concentrator_rows
    cross join scopes as cluster_scope
    group by
        concentrator_rows.school_year,
        concentrator_rows.district_code,
        concentrator_rows.location_code,
        case when cluster_scope.is_all then 'ALL' else concentrator_rows.career_cluster end
),

leveled_credentials as (
    {{ roll_up_to_levels('credential_cells', dims,
        ['credentials_earned', 'industry_requested_credentials', 'credential_earners']) }}
),

leveled_concentrators as (
    {{ roll_up_to_levels('concentrator_cells', ['school_year', 'career_cluster'],
        ['concentrators']) }}
),

-- Tier rows take the concentrators of their entity and cluster, whatever the tier.
cell_keys as (
    select
        school_year,
        level,
        entity_code,
        parent_entity_code,
        district_code,
        location_code,
        career_cluster,
        credential_tier
    from leveled_credentials
    union
    select
        school_year,
        level,
        entity_code,
        parent_entity_code,
        district_code,
        location_code,
        career_cluster,
        'ALL' as credential_tier
    from leveled_concentrators
),

cells as (
    select
        cell_keys.*,
        coalesce(leveled_credentials.credentials_earned, 0) as credentials_earned,
        coalesce(leveled_credentials.industry_requested_credentials, 0)
            as industry_requested_credentials,
        coalesce(leveled_credentials.credential_earners, 0) as credential_earners,
        coalesce(leveled_concentrators.concentrators, 0) as concentrators
    from cell_keys
    left join leveled_credentials
        on leveled_credentials.school_year = cell_keys.school_year
        and leveled_credentials.level = cell_keys.level
        and leveled_credentials.entity_code = cell_keys.entity_code
        and leveled_credentials.career_cluster = cell_keys.career_cluster
        and leveled_credentials.credential_tier = cell_keys.credential_tier
    left join leveled_concentrators
        on leveled_concentrators.school_year = cell_keys.school_year
        and leveled_concentrators.level = cell_keys.level
        and leveled_concentrators.entity_code = cell_keys.entity_code
        and leveled_concentrators.career_cluster = cell_keys.career_cluster
)

select
    cells.school_year,
    level,
    entity_code,
    parent_entity_code,
    district_code,
    location_code,
    career_cluster,
    credential_tier,
    cast(concentrators as {{ dbt.type_int() }}) as concentrators,
    cast(credential_earners as {{ dbt.type_int() }}) as credential_earners,
    cast(credentials_earned as {{ dbt.type_int() }}) as credentials_earned,
    cast(industry_requested_credentials as {{ dbt.type_int() }})
        as industry_requested_credentials,
    {{ safe_rate('industry_requested_credentials', 'credentials_earned') }}
        as industry_requested_share,
    {{ safe_rate('credentials_earned', 'concentrators') }} as credentials_per_concentrator,
    {{ is_history_complete('cells.school_year') }} as is_history_complete
from cells
