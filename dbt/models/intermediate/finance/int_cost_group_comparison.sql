with schools as (
    select * from {{ ref('cost_per_student') }}
    where instruction_per_student is not null
),

memberships as (
    select
        'CTE_POWERHOUSE' as school_group,
        schools.*,
        is_cte_powerhouse as is_member
    from schools
    union all
    select
        'HIGH_COST_SPECIALIST' as school_group,
        schools.*,
        is_high_cost_specialist as is_member
    from schools
    union all
    select
        'ALL_HIGH_SCHOOLS' as school_group,
        schools.*,
        true as is_member
    from schools
),

-- Mean and sample variance of instruction per student on each side (is_member), in two
-- passes of sorted sums: the same bits in every build, where avg() and var_samp() add in
-- the order the threads deliver (decision 0035).
side_means as (
    select
        fiscal_year,
        school_group,
        is_member,
        {{ sorted_sum('instruction_per_student') }} / count(*) as side_mean
    from memberships
    group by fiscal_year, school_group, is_member
),

deviations as (
    select
        memberships.fiscal_year,
        memberships.school_group,
        memberships.is_member,
        side_means.side_mean,
        memberships.instruction_per_student - side_means.side_mean as deviation
    from memberships
    inner join side_means
        on side_means.fiscal_year = memberships.fiscal_year
        and side_means.school_group = memberships.school_group
        and side_means.is_member = memberships.is_member
),

side_moments as (
    select
        fiscal_year,
        school_group,
        is_member,
        side_mean,
        {{ sorted_sum('deviation * deviation') }} / nullif(count(*) - 1, 0) as side_variance
    from deviations
    group by fiscal_year, school_group, is_member, side_mean
),

-- Spending: sorted sums too (a combined school's grades 9-12 share is not whole cents).
sides as (
    select
        fiscal_year,
        school_group,
        count(case when is_member then 1 end) as group_schools,
        count(case when is_member and school_level = 'COMBINED' then 1 end)
            as group_combined_schools,
        count(case when not is_member then 1 end) as other_schools,
        sum(case when is_member then enrolled_students else 0 end) as group_enrolled_students,
        sum(case when is_member then concentrators else 0 end) as group_concentrators,
        sum(case when is_member then credentials_earned else 0 end) as group_credentials,
        -- null while the year's placements are incomplete (cost_per_student.placed_graduates)
        sum(case when is_member then placed_graduates end) as group_placed_graduates,
        {{ sorted_sum('case when is_member then instructional_spending else 0 end') }}
            as group_instructional_spending,
        {{ sorted_sum('case when is_member then coalesce(cte_spending, 0) else 0 end') }}
            as group_cte_spending,
        bool_and(is_placement_complete) as is_placement_complete
    from memberships
    group by fiscal_year, school_group
),

moments as (
    select
        sides.*,
        group_side.side_mean as group_mean,
        group_side.side_variance as group_variance,
        other_side.side_mean as other_mean,
        other_side.side_variance as other_variance
    from sides
    left join side_moments as group_side
        on group_side.fiscal_year = sides.fiscal_year
        and group_side.school_group = sides.school_group
        and group_side.is_member
    left join side_moments as other_side
        on other_side.fiscal_year = sides.fiscal_year
        and other_side.school_group = sides.school_group
        and not other_side.is_member
),

tests as (
    select
        moments.*,
        group_variance / group_schools as group_se_squared,
        other_variance / nullif(other_schools, 0) as other_se_squared,
        case when group_schools > 0 and other_schools > 0 and group_schools + other_schools > 2
                then (
                    (group_schools - 1) * coalesce(group_variance, 0)
                    + (other_schools - 1) * coalesce(other_variance, 0)
                )
                / (group_schools + other_schools - 2)
        end as pooled_variance
    from moments
)

select
    fiscal_year,
    school_group,
    cast(group_schools as {{ dbt.type_int() }}) as group_schools,
    cast(group_combined_schools as {{ dbt.type_int() }}) as group_combined_schools,
    cast(other_schools as {{ dbt.type_int() }}) as other_schools,
    cast(group_mean as {{ dbt.type_float() }}) as group_mean_instruction_per_student,
    cast(other_mean as {{ dbt.type_float() }}) as other_mean_instruction_per_student,
    cast(group_variance as {{ dbt.type_float() }}) as group_variance,
    cast(other_variance as {{ dbt.type_float() }}) as other_variance,
    cast(group_mean - other_mean as {{ dbt.type_float() }}) as mean_difference,
    cast(case when group_se_squared + other_se_squared > 0
            then (group_mean - other_mean) / sqrt(group_se_squared + other_se_squared)
    end as {{ dbt.type_float() }}) as welch_t,
    cast(case when group_schools > 1 and other_schools > 1
            and group_se_squared + other_se_squared > 0
            then (group_se_squared + other_se_squared) * (group_se_squared + other_se_squared)
                / (
                    group_se_squared * group_se_squared / (group_schools - 1)
                    + other_se_squared * other_se_squared / (other_schools - 1)
                )
    end as {{ dbt.type_float() }}) as welch_df,
    cast(case when pooled_variance > 0
            then (group_mean - other_mean)
                / sqrt(pooled_variance * (1.0 / group_schools + 1.0 / other_schools))
    end as {{ dbt.type_float() }}) as pooled_t,
    cast(
        case when pooled_variance > 0 then group_schools + other_schools - 2 end
        as {{ dbt.type_int() }}
    ) as pooled_df,
    cast(group_enrolled_students as {{ dbt.type_int() }}) as group_enrolled_students,
    cast(group_concentrators as {{ dbt.type_int() }}) as group_concentrators,
    cast(group_credentials as {{ dbt.type_int() }}) as group_credentials,
    cast(
        case when is_placement_complete then coalesce(group_placed_graduates, 0) end
        as {{ dbt.type_int() }}
    ) as group_placed_graduates,
    is_placement_complete,
    cast(group_instructional_spending as {{ dbt.type_float() }}) as group_instructional_spending,
    cast(group_cte_spending as {{ dbt.type_float() }}) as group_cte_spending,
    cast(case when group_enrolled_students > 0
            then group_instructional_spending / group_enrolled_students
    end as {{ dbt.type_float() }}) as group_instruction_per_student,
    cast(
        case when group_concentrators > 0 then group_cte_spending / group_concentrators end
        as {{ dbt.type_float() }}
    ) as group_cte_spending_per_concentrator,
    cast(
        case when group_credentials > 0 then group_cte_spending / group_credentials end
        as {{ dbt.type_float() }}
    ) as group_cte_spending_per_credential,
    cast(case when is_placement_complete and group_placed_graduates > 0
            then group_cte_spending / group_placed_graduates
    end as {{ dbt.type_float() }}) as group_cte_spending_per_placed_graduate
from tests
