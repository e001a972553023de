with source as (
    {{ loaded_rows('oews_wages') }}
)

select
    cast(_file_year as {{ dbt.type_int() }}) as data_year,
    cast(area as {{ dbt.type_string() }}) as area_code,
    cast(area_title as {{ dbt.type_string() }}) as area_title,
    cast(area_type as {{ dbt.type_string() }}) as area_type,
    cast(occ_code as {{ dbt.type_string() }}) as soc_code,
    cast(occ_title as {{ dbt.type_string() }}) as occupation_title,
    cast(o_group as {{ dbt.type_string() }}) as occupation_group,
    cast(tot_emp as {{ dbt.type_float() }}) as total_employment,
    cast(tot_emp_flag as {{ dbt.type_string() }}) as total_employment_flag,
    cast(a_mean as {{ dbt.type_float() }}) as annual_mean_wage,
    cast(a_mean_flag as {{ dbt.type_string() }}) as annual_mean_wage_flag,
    cast(a_median as {{ dbt.type_float() }}) as annual_median_wage,
    cast(a_median_flag as {{ dbt.type_string() }}) as annual_median_wage_flag,
    cast(a_pct10 as {{ dbt.type_float() }}) as annual_p10_wage,
    cast(a_pct10_flag as {{ dbt.type_string() }}) as annual_p10_wage_flag,
    cast(a_pct90 as {{ dbt.type_float() }}) as annual_p90_wage,
    cast(a_pct90_flag as {{ dbt.type_string() }}) as annual_p90_wage_flag,
    cast(_manifest_id as {{ dbt.type_int() }}) as manifest_id
from source
