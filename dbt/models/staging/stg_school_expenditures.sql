with source as (
    {{ loaded_rows('school_expenditures') }}
)

select
    cast(fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    cast(district_code as {{ dbt.type_string() }}) as district_code,
    cast(location_code as {{ dbt.type_string() }}) as location_code,
    cast(fund as {{ dbt.type_string() }}) as fund_code,
    cast(function as {{ dbt.type_string() }}) as function_code,
    cast(object as {{ dbt.type_string() }}) as object_code,
    cast(program_code as {{ dbt.type_string() }}) as program_code,
    cast(amount as decimal(18, 2)) as amount,
    cast(_manifest_id as {{ dbt.type_int() }}) as manifest_id
from source
