with source as (
    {{ loaded_rows('work_based_learning') }}
)

select
    cast(student_id as {{ dbt.type_string() }}) as student_key,
    cast(district_code as {{ dbt.type_string() }}) as district_code,
    cast(school_year as {{ dbt.type_int() }}) as school_year,
    cast(wbl_type as {{ dbt.type_string() }}) as wbl_type,
    cast(hours as {{ dbt.type_int() }}) as hours,
    cast(employer_naics as {{ dbt.type_string() }}) as employer_naics,
    coalesce(paid = 'Y', false) as is_paid,
    cast(_manifest_id as {{ dbt.type_int() }}) as manifest_id
from source
