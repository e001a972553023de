with source as (
    {{ loaded_rows('credential_attainment') }}
),

ped_list as (
    select
        credential_code,
        first_school_year,
        last_school_year
    from {{ ref('stg_ped_credential_list') }}
),

on_list as (
    select distinct
        source._manifest_id,
        source._source_row
    from source
    inner join ped_list
        on ped_list.credential_code = source.credential_code
        and cast(source.school_year as {{ dbt.type_int() }}) >= ped_list.first_school_year
        and (
            ped_list.last_school_year is null
            or cast(source.school_year as {{ dbt.type_int() }}) <= ped_list.last_school_year
        )
),

credentials as (
    select
        credential_code,
        credential_name,
        issuer
    from {{ ref('stg_credentials') }}
)

select
    cast(source.student_id as {{ dbt.type_string() }}) as student_key,
    cast(source.district_code as {{ dbt.type_string() }}) as district_code,
    cast(source.location_code as {{ dbt.type_string() }}) as location_code,
    cast(source.school_year as {{ dbt.type_int() }}) as school_year,
    cast(source.cip_code as {{ dbt.type_string() }}) as cip_code,
    cast(source.delivery_method as {{ dbt.type_string() }}) as delivery_method,
    cast(source.credential_code as {{ dbt.type_string() }}) as credential_code,
    cast(
        coalesce(source.credential_name, credentials.credential_name)
        as {{ dbt.type_string() }}
    ) as credential_name,
    cast(coalesce(source.issuer, credentials.issuer) as {{ dbt.type_string() }}) as issuer,
    cast(source.earned_date as date) as earned_date,
    on_list._source_row is not null
    and (source.verified is null or source.verified = 'Y') as is_verified,
    case
        when source.verified is not null then 'PED_LIST_AND_FLAG' else 'PED_LIST'
    end as verification_rule,
    cast(source._manifest_id as {{ dbt.type_int() }}) as manifest_id
from source
left join on_list
    on on_list._manifest_id = source._manifest_id
    and on_list._source_row = source._source_row
left join credentials
    on credentials.credential_code = source.credential_code
