with source as (
    {{ loaded_rows('credential_attainment') }}
)

select
    cast(student_id as {{ dbt.type_string() }}) as student_key,
    cast(district_code as {{ dbt.type_string() }}) as district_code,
    cast(location_code as {{ dbt.type_string() }}) as location_code,
    cast(school_year as {{ dbt.type_int() }}) as school_year,
    cast(cip_code as {{ dbt.type_string() }}) as cip_code,
    cast(delivery_method as {{ dbt.type_string() }}) as delivery_method,
    cast(credential_code as {{ dbt.type_string() }}) as credential_code,
    cast(credential_name as {{ dbt.type_string() }}) as credential_name,
    cast(issuer as {{ dbt.type_string() }}) as issuer,
    cast(earned_date as date) as earned_date,
    coalesce(verified = 'Y', false) as is_verified,
    cast(_manifest_id as {{ dbt.type_int() }}) as manifest_id
from source
