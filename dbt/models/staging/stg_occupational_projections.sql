with source as (
    {{ loaded_rows('occupational_projections') }}
)

select
    cast(_file_year as {{ dbt.type_int() }}) as data_year,
    cast(area as {{ dbt.type_string() }}) as area_code,
    cast(soc_code as {{ dbt.type_string() }}) as soc_code,
    cast(occ_title as {{ dbt.type_string() }}) as occupation_title,
    cast(base_year as {{ dbt.type_int() }}) as base_year,
    cast(proj_year as {{ dbt.type_int() }}) as projection_year,
    cast(base_emp as {{ dbt.type_int() }}) as base_employment,
    cast(proj_emp as {{ dbt.type_int() }}) as projected_employment,
    cast(annual_openings as {{ dbt.type_int() }}) as annual_openings,
    cast(typical_education as {{ dbt.type_string() }}) as typical_education,
    cast(_manifest_id as {{ dbt.type_int() }}) as manifest_id
from source
