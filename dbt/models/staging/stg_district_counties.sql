{#- The district_counties seed, typed once for the models that read it. -#}
select
    {{ seed_code('district_code') }} as district_code,
    cast(county as {{ dbt.type_string() }}) as county
from {{ ref('district_counties') }}
