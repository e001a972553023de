with source as (
    {{ loaded_rows('student_enrollment') }}
)

select
    cast(student_id as {{ dbt.type_string() }}) as student_key,
    cast(district_code as {{ dbt.type_string() }}) as district_code,
    cast(location_code as {{ dbt.type_string() }}) as location_code,
    cast(school_year as {{ dbt.type_int() }}) as school_year,
    cast(grade_level as {{ dbt.type_string() }}) as grade_level,
    cast(grade_level as {{ dbt.type_int() }}) as grade_number,
    cast(sex as {{ dbt.type_string() }}) as sex,
    cast(race_ethnicity as {{ dbt.type_string() }}) as race_ethnicity,
    cast(economically_disadvantaged as {{ dbt.type_string() }}) as economically_disadvantaged,
    cast(disability as {{ dbt.type_string() }}) as disability,
    cast(english_learner as {{ dbt.type_string() }}) as english_learner,
    cast(homeless as {{ dbt.type_string() }}) as homeless,
    cast(foster_care as {{ dbt.type_string() }}) as foster_care,
    cast(military_connected as {{ dbt.type_string() }}) as military_connected,
    cast(migrant as {{ dbt.type_string() }}) as migrant,
    cast(single_parent as {{ dbt.type_string() }}) as single_parent,
    cast(cohort_year as {{ dbt.type_int() }}) as cohort_year,
    cast(exit_code as {{ dbt.type_string() }}) as exit_code,
    cast(exit_date as date) as exit_date,
    cast(_manifest_id as {{ dbt.type_int() }}) as manifest_id
from source
