select
    cast(county as {{ dbt.type_string() }}) as county,
    cast(area_code as {{ dbt.type_string() }}) as area_code,
    cast(area_title as {{ dbt.type_string() }}) as area_title,
    cast(area_type as {{ dbt.type_string() }}) as area_type,
    cast(basis as {{ dbt.type_string() }}) as basis
from {{ ref('labor_market_areas') }}
