select
    cast(course_code as {{ dbt.type_string() }}) as course_code,
    cast(course_title as {{ dbt.type_string() }}) as course_title,
    cast(program_of_study_code as {{ dbt.type_string() }}) as program_of_study_code,
    cast(career_cluster as {{ dbt.type_string() }}) as career_cluster,
    cast(legacy_cluster as {{ dbt.type_string() }}) as legacy_cluster
from {{ ref('courses') }}
