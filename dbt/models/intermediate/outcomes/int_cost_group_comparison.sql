{#-
    The inputs of the cost study's Welch t-tests, one row per fiscal year and school group:
    CTE_POWERHOUSE and HIGH_COST_SPECIALIST (each against the other high schools of the
    year) and ALL_HIGH_SCHOOLS (no comparison). Only high schools with spending and at
    least one enrolled student enter (cost_per_student.spending_per_student not null).

    For each side: schools n, mean and sample variance (n - 1) of spending per student.
    Welch: t = (mean_g - mean_o) / sqrt(var_g / n_g + var_o / n_o), degrees of freedom
    (var_g/n_g + var_o/n_o)^2 / ((var_g/n_g)^2/(n_g-1) + (var_o/n_o)^2/(n_o-1)). The
    one-tailed p-value (H1: the group spends more) is added by cost_study.
    Group totals give the cost per concentrator, credential and placed graduate of the
    group: total instructional spending over the total count.
-#}
with schools as (
    select * from {{ ref('cost_per_student') }}
    where spending_per_student is not null
),

memberships as (
    select 'CTE_POWERHOUSE' as school_group, schools.*, is_cte_powerhouse as is_member
    from schools
    union all
    select 'HIGH_COST_SPECIALIST' as school_group, schools.*, is_high_cost_specialist as is_member
    from schools
    union all
    select 'ALL_HIGH_SCHOOLS' as school_group, schools.*, true as is_member
    from schools
),

sides as (
    select
        fiscal_year,
        school_group,
        count(case when is_member then 1 end) as group_schools,
        avg(case when is_member then spending_per_student end) as group_mean,
        var_samp(case when is_member then spending_per_student end) as group_variance,
        count(case when not is_member then 1 end) as other_schools,
        avg(case when not is_member then spending_per_student end) as other_mean,
        var_samp(case when not is_member then spending_per_student end) as other_variance,
        sum(case when is_member then enrolled_students else 0 end) as group_enrolled_students,
        sum(case when is_member then concentrators else 0 end) as group_concentrators,
        sum(case when is_member then credentials_earned else 0 end) as group_credentials,
        sum(case when is_member then placed_graduates else 0 end) as group_placed_graduates,
        sum(case when is_member then instructional_spending else 0 end) as group_spending
    from memberships
    group by fiscal_year, school_group
),

welch as (
    select
        sides.*,
        group_variance / group_schools as group_se_squared,
        other_variance / nullif(other_schools, 0) as other_se_squared
    from sides
)

select
    fiscal_year,
    school_group,
    cast(group_schools as {{ dbt.type_int() }}) as group_schools,
    cast(other_schools as {{ dbt.type_int() }}) as other_schools,
    cast(group_mean as {{ dbt.type_float() }}) as group_mean_spending_per_student,
    cast(other_mean as {{ dbt.type_float() }}) as other_mean_spending_per_student,
    cast(group_variance as {{ dbt.type_float() }}) as group_variance,
    cast(other_variance as {{ dbt.type_float() }}) as other_variance,
    cast(group_mean - other_mean as {{ dbt.type_float() }}) as mean_difference,
    cast(case when group_se_squared + other_se_squared > 0
        then (group_mean - other_mean) / sqrt(group_se_squared + other_se_squared)
    end as {{ dbt.type_float() }}) as welch_t,
    cast(case when group_schools > 1 and other_schools > 1
            and group_se_squared + other_se_squared > 0
        then (group_se_squared + other_se_squared) * (group_se_squared + other_se_squared)
            / (group_se_squared * group_se_squared / (group_schools - 1)
                + other_se_squared * other_se_squared / (other_schools - 1))
    end as {{ dbt.type_float() }}) as welch_df,
    cast(group_enrolled_students as {{ dbt.type_int() }}) as group_enrolled_students,
    cast(group_concentrators as {{ dbt.type_int() }}) as group_concentrators,
    cast(group_credentials as {{ dbt.type_int() }}) as group_credentials,
    cast(group_placed_graduates as {{ dbt.type_int() }}) as group_placed_graduates,
    cast(group_spending as {{ dbt.type_float() }}) as group_spending,
    cast(case when group_concentrators > 0 then group_spending / group_concentrators end
        as {{ dbt.type_float() }}) as group_cost_per_concentrator,
    cast(case when group_credentials > 0 then group_spending / group_credentials end
        as {{ dbt.type_float() }}) as group_cost_per_credential,
    cast(case when group_placed_graduates > 0 then group_spending / group_placed_graduates end
        as {{ dbt.type_float() }}) as group_cost_per_placed_graduate
from welch
