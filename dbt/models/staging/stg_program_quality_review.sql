with source as (
    {{ loaded_rows('program_quality_review') }}
)

select
    cast(district_code as {{ dbt.type_string() }}) as district_code,
    cast(location_code as {{ dbt.type_string() }}) as location_code,
    cast(school_year as {{ dbt.type_int() }}) as school_year,
    cast(program_of_study_code as {{ dbt.type_string() }}) as program_of_study_code,
    cast(component as {{ dbt.type_int() }}) as component,
    cast(rating as {{ dbt.type_int() }}) as rating,
    cast(reviewed_on as date) as reviewed_on,
    cast(_manifest_id as {{ dbt.type_int() }}) as manifest_id
from source
