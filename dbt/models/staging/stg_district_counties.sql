select
    {{ seed_code('district_code') }} as district_code,
    cast(county as {{ dbt.type_string() }}) as county
from {{ ref('district_counties') }}
