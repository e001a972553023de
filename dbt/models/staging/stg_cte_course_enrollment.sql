with source as (
    {{ loaded_rows('cte_course_enrollment') }}
)

select
    cast(student_id as {{ dbt.type_string() }}) as student_key,
    cast(district_code as {{ dbt.type_string() }}) as district_code,
    cast(location_code as {{ dbt.type_string() }}) as location_code,
    cast(school_year as {{ dbt.type_int() }}) as school_year,
    cast(course_code as {{ dbt.type_string() }}) as course_code,
    cast(term as {{ dbt.type_string() }}) as term,
    coalesce(completed = 'Y', false) as is_completed,
    cast(credits_earned as decimal(18, 2)) as credits_earned,
    coalesce(dual_credit = 'Y', false) as is_dual_credit,
    cast(_manifest_id as {{ dbt.type_int() }}) as manifest_id
from source
