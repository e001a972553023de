with inputs as (
    select * from {{ ref('int_funding_inputs') }}
),

awards as (
    select
        fiscal_year,
        district_code,
        sum(amount) as nextgen_award
    from {{ ref('stg_grant_awards') }}
    where grant_program = 'NEXTGEN_CTE'
    group by fiscal_year, district_code
),

amounts as (
    select
        inputs.*,
        {{ formula_parameter('base_per_cte_school') }} * cte_schools as base_amount,
        {{ formula_parameter('per_concentrator') }} * concentrators as concentrator_amount,
        {{ formula_parameter('credential_tier_1') }} * tier_1_credentials
        + {{ formula_parameter('credential_tier_2') }} * tier_2_credentials
        + {{ formula_parameter('credential_tier_3') }} * tier_3_credentials
            as credential_amount,
        {{ formula_parameter('high_cost_uplift_per_concentrator') }} * high_cost_concentrators
            as high_cost_amount,
        {{ formula_parameter('quality_incentive_per_point') }} * quality_points as quality_amount
    from inputs
),

districts as (
    select distinct
        district_code,
        district_name
    from {{ ref('stg_schools') }}
)

select
    amounts.fiscal_year,
    amounts.district_code,
    districts.district_name,
    amounts.cte_schools,
    amounts.enrolled_students,
    amounts.participants,
    amounts.concentrators,
    amounts.high_cost_concentrators,
    amounts.tier_1_credentials,
    amounts.tier_2_credentials,
    amounts.tier_3_credentials,
    amounts.quality_points,
    cast(amounts.base_amount as {{ dbt.type_float() }}) as base_amount,
    cast(amounts.concentrator_amount as {{ dbt.type_float() }}) as concentrator_amount,
    cast(amounts.credential_amount as {{ dbt.type_float() }}) as credential_amount,
    cast(amounts.high_cost_amount as {{ dbt.type_float() }}) as high_cost_amount,
    cast(amounts.quality_amount as {{ dbt.type_float() }}) as quality_amount,
    cast(
        amounts.base_amount + amounts.concentrator_amount + amounts.credential_amount
        + amounts.high_cost_amount + amounts.quality_amount as {{ dbt.type_float() }})
        as simulated_allocation,
    cast(case when amounts.concentrators > 0
            then (
                amounts.base_amount + amounts.concentrator_amount + amounts.credential_amount
                + amounts.high_cost_amount + amounts.quality_amount
            ) / amounts.concentrators
    end as {{ dbt.type_float() }}) as allocation_per_concentrator,
    cast(awards.nextgen_award as {{ dbt.type_float() }}) as nextgen_award,
    cast(case when amounts.enrolled_students > 0
            then awards.nextgen_award / amounts.enrolled_students
    end as {{ dbt.type_float() }}) as nextgen_award_per_enrolled_student,
    cast(
        case when amounts.concentrators > 0 then awards.nextgen_award / amounts.concentrators
        end as {{ dbt.type_float() }}
    ) as nextgen_award_per_concentrator,
    cast(
        case when amounts.participants > 0 then awards.nextgen_award / amounts.participants
        end as {{ dbt.type_float() }}
    ) as nextgen_award_per_participant,
    {{ is_history_complete('amounts.fiscal_year') }} as is_history_complete
from amounts
left join awards
    on awards.fiscal_year = amounts.fiscal_year
    and awards.district_code = amounts.district_code
left join districts
    on districts.district_code = amounts.district_code
