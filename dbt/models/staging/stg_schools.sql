select
    {{ seed_code('district_code') }} as district_code,
    {{ seed_code('location_code') }} as location_code,
    cast(district_name as {{ dbt.type_string() }}) as district_name,
    cast(school_name as {{ dbt.type_string() }}) as school_name,
    cast(school_level as {{ dbt.type_string() }}) as school_level,
    cast(locale as {{ dbt.type_string() }}) as locale,
    cast(innovation_zone as {{ dbt.type_string() }}) as innovation_zone,
    cast(rural_alliance as {{ dbt.type_string() }}) as rural_alliance,
    cast(cte_region as {{ dbt.type_string() }}) as cte_region
from {{ ref('schools') }}
