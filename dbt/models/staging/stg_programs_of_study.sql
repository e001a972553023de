select
    cast(program_of_study_code as {{ dbt.type_string() }}) as program_of_study_code,
    cast(title as {{ dbt.type_string() }}) as title,
    cast(career_cluster as {{ dbt.type_string() }}) as career_cluster,
    cast(nontraditional_for as {{ dbt.type_string() }}) as nontraditional_for,
    cast(soc_codes as {{ dbt.type_string() }}) as soc_codes
from {{ ref('programs_of_study') }}
