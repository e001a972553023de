select
    cast(credential_code as {{ dbt.type_string() }}) as credential_code,
    cast(name as {{ dbt.type_string() }}) as credential_name,
    cast(issuer as {{ dbt.type_string() }}) as issuer,
    cast(tier as {{ dbt.type_int() }}) as tier,
    cast(industry_requested as {{ dbt.type_string() }}) = 'Y' as is_industry_requested,
    cast(career_cluster as {{ dbt.type_string() }}) as career_cluster,
    cast(cip_code as {{ dbt.type_string() }}) as cip_code
from {{ ref('credentials') }}
