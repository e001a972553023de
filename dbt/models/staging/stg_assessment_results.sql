with source as (
    {{ loaded_rows('assessment_results') }}
)

select
    cast(student_id as {{ dbt.type_string() }}) as student_key,
    cast(district_code as {{ dbt.type_string() }}) as district_code,
    cast(school_year as {{ dbt.type_int() }}) as school_year,
    cast(subject as {{ dbt.type_string() }}) as subject,
    cast(scale_score as {{ dbt.type_int() }}) as scale_score,
    coalesce(proficient = 'Y', false) as is_proficient,
    cast(_manifest_id as {{ dbt.type_int() }}) as manifest_id
from source
