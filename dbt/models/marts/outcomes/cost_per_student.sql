{#-
    The LESC FY method per high school (school_level HIGH in the schools seed) and fiscal
    year: instructional spending (fund var('operational_fund'), functions
    var('instruction_functions')) divided by the school's enrolled students, the CTE
    Powerhouse and High-Cost Industry Specialist classification, and the cost per
    concentrator, per credential earned and per placed graduate (instructional spending
    over each count; null when the count is 0). Schools without spending rows in the year
    keep a row with null spending and are left out of cost_study.
-#}
with profile as (
    select * from {{ ref('int_school_cte_profile') }}
    where school_level = 'HIGH'
),

shares as (
    select
        profile.*,
        {{ safe_rate('concentrators', 'enrolled_students') }} as concentrator_share,
        {{ safe_rate('high_cost_concentrators', 'enrolled_students') }}
            as high_cost_concentrator_share
    from profile
)

select
    school_year as fiscal_year,
    district_code,
    location_code,
    cte_region,
    enrolled_students,
    concentrators,
    high_cost_concentrators,
    credentials_earned,
    graduates,
    placed_graduates,
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
    instructional_spending,
    case when enrolled_students > 0 then instructional_spending / enrolled_students end
        as spending_per_student,
    case when concentrators > 0 then instructional_spending / concentrators end
        as cost_per_concentrator,
    case when credentials_earned > 0 then instructional_spending / credentials_earned end
        as cost_per_credential,
    case when placed_graduates > 0 then instructional_spending / placed_graduates end
        as cost_per_placed_graduate,
    {{ is_history_complete('shares.school_year') }} as is_history_complete
from shares
