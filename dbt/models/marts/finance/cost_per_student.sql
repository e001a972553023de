{#-
    The LESC FY method per high school and fiscal year, plus the marginal cost of CTE.

    Schools: school_level HIGH in the schools seed, and COMBINED (grades 6-12) schools with
    students in grades var('high_school_grades') (9-12) in the year. The denominator is the
    school's grades 9-12 students (enrolled_students); a combined school enters with the
    grades 9-12 share of its spending (school spending * enrolled_students /
    school_enrolled_students), because its site actuals also pay for grades 6-8 and carry no
    grade. A high school keeps the LESC denominator, all its enrolled students, and a share
    of 1.

    - instruction_per_student: instructional spending (fund var('operational_fund'),
      functions var('instruction_functions')) / enrolled_students: the LESC figure, all
      instruction, not a cost of CTE.
    - cte_spending_per_concentrator / _per_credential / _per_placed_graduate: CTE
      program-code spending (var('cte_program_codes'), every fund and function) over the
      school's concentrators, verified credentials earned and placed graduates: the
      marginal CTE cost. Null when the count is 0 or the spending is missing.
    - placed_graduates waits for its data (decision 0015): null until every leaver of the
      year has the placement quarter covered by the records loaded
      (is_placement_complete); placement_observed_graduates says how many of the school's
      graduates are covered meanwhile.
    - CTE Powerhouse / High-Cost Industry Specialist: shares over enrolled_students.
    Schools without spending rows in the year keep a row with null spending and are left
    out of cost_study.
-#}
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
