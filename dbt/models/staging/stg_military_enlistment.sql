with source as (
    {{ loaded_rows('military_enlistment') }}
)

select
    cast(student_id as {{ dbt.type_string() }}) as student_key,
    cast(enlist_date as date) as enlist_date,
    {{ quarter_index('enlist_date') }} as enlist_quarter_index,
    cast(_file_year as {{ dbt.type_int() }}) as data_year,
    cast(_manifest_id as {{ dbt.type_int() }}) as manifest_id
from source
