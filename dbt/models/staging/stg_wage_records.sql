with source as (
    {{ loaded_rows('wage_records') }}
)

select
    cast(student_id as {{ dbt.type_string() }}) as student_key,
    cast(year as {{ dbt.type_int() }}) as wage_year,
    cast(quarter as {{ dbt.type_int() }}) as wage_quarter,
    {{ year_quarter_index('year', 'quarter') }} as quarter_index,
    cast(employer_naics as {{ dbt.type_string() }}) as employer_naics,
    cast(wages as decimal(18, 2)) as wages,
    cast(_file_year as {{ dbt.type_int() }}) as data_year,
    cast(_manifest_id as {{ dbt.type_int() }}) as manifest_id
from source
