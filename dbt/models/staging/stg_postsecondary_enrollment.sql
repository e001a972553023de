with source as (
    {{ loaded_rows('postsecondary_enrollment') }}
),

ranked as (
    select
        source.*,
        row_number() over (
            partition by student_id, term_start, institution_id
            order by _file_year desc, _manifest_id desc
        ) as file_rank
    from source
)

select
    cast(student_id as {{ dbt.type_string() }}) as student_key,
    cast(term_start as date) as term_start,
    {{ quarter_index('term_start') }} as term_start_quarter_index,
    cast(institution_id as {{ dbt.type_string() }}) as institution_id,
    cast(institution_type as {{ dbt.type_string() }}) as institution_type,
    coalesce(in_state = 'Y', false) as is_in_state,
    cast(_file_year as {{ dbt.type_int() }}) as data_year,
    cast(_manifest_id as {{ dbt.type_int() }}) as manifest_id
from ranked
where file_rank = 1
