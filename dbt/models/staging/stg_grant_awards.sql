with source as (
    {{ loaded_rows('grant_awards') }}
)

select
    cast(fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    cast(district_code as {{ dbt.type_string() }}) as district_code,
    cast(program as {{ dbt.type_string() }}) as grant_program,
    cast(amount as decimal(18, 2)) as amount,
    cast(_manifest_id as {{ dbt.type_int() }}) as manifest_id
from source
