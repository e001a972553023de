with source as (
    {{ loaded_rows('education_assignments') }}
)

select
    cast(_file_year as {{ dbt.type_int() }}) as data_year,
    cast(soc_code as {{ dbt.type_string() }}) as soc_code,
    cast(occ_title as {{ dbt.type_string() }}) as occupation_title,
    cast(typical_education as {{ dbt.type_string() }}) as typical_education,
    cast(work_experience as {{ dbt.type_string() }}) as work_experience,
    cast(job_training as {{ dbt.type_string() }}) as job_training,
    cast(_manifest_id as {{ dbt.type_int() }}) as manifest_id
from source
