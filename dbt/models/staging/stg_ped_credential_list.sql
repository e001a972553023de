select
    cast(credential_code as {{ dbt.type_string() }}) as credential_code,
    cast(first_school_year as {{ dbt.type_int() }}) as first_school_year,
    cast(last_school_year as {{ dbt.type_int() }}) as last_school_year
from {{ ref('ped_credential_list') }}
