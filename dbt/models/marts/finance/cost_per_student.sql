with profile as (
    select * from {{ ref('int_school_cte_profile') }}
    where school_level = 'HIGH'
        or (school_level = 'COMBINED' and high_school_students > 0)
),

shares as (
    select
        profile.*,
        case when school_level = 'HIGH' then enrolled_students else high_school_students end
            as cost_students,
        case
            when school_level = 'HIGH' then 1.0
            else cast(high_school_students as {{ dbt.type_float() }}) / enrolled_students
        end as high_school_share
    from profile
),

counted as (
    select
        shares.*,
        {{ safe_rate('concentrators', 'cost_students') }} as concentrator_share,
        {{ safe_rate('high_cost_concentrators', 'cost_students') }}
            as high_cost_concentrator_share,
        case when is_placement_complete then placed_graduates end as complete_placed_graduates,
        instructional_spending * high_school_share as high_school_instructional_spending,
        cte_spending * high_school_share as high_school_cte_spending
    from shares
)

select
    school_year as fiscal_year,
    district_code,
    location_code,
    cte_region,
    school_level,
    cast(cost_students as {{ dbt.type_int() }}) as enrolled_students,
    cast(enrolled_students as {{ dbt.type_int() }}) as school_enrolled_students,
    concentrators,
    high_cost_concentrators,
    credentials_earned,
    graduates,
    placement_observed_graduates,
    cast(complete_placed_graduates as {{ dbt.type_int() }}) as placed_graduates,
    is_placement_complete,
    concentrator_share,
    high_cost_concentrator_share,
    coalesce(
        concentrator_share > {{ var('powerhouse_share') }}
        or concentrators >= {{ var('powerhouse_count') }},
        false
    ) as is_cte_powerhouse,
    coalesce(
        high_cost_concentrator_share > {{ var('high_cost_share') }}
        or high_cost_concentrators >= {{ var('high_cost_count') }},
        false
    ) as is_high_cost_specialist,
    instructional_spending as school_instructional_spending,
    cte_spending as school_cte_spending,
    cast(high_school_instructional_spending as {{ dbt.type_float() }}) as instructional_spending,
    cast(high_school_cte_spending as {{ dbt.type_float() }}) as cte_spending,
    cast(
        case when cost_students > 0 then high_school_instructional_spending / cost_students end
        as {{ dbt.type_float() }}
    ) as instruction_per_student,
    cast(
        case when concentrators > 0 then high_school_cte_spending / concentrators end
        as {{ dbt.type_float() }}
    ) as cte_spending_per_concentrator,
    cast(
        case when credentials_earned > 0 then high_school_cte_spending / credentials_earned end
        as {{ dbt.type_float() }}
    ) as cte_spending_per_credential,
    cast(case when complete_placed_graduates > 0
            then high_school_cte_spending / complete_placed_graduates
    end as {{ dbt.type_float() }}) as cte_spending_per_placed_graduate,
    {{ is_history_complete('counted.school_year') }} as is_history_complete
from counted
