select
    cast(indicator as {{ dbt.type_string() }}) as indicator_code,
    cast(school_year as {{ dbt.type_int() }}) as school_year,
    cast(state_target as {{ dbt.type_float() }}) as state_target
from {{ ref('performance_targets') }}
