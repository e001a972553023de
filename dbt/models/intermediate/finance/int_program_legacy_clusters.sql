with course_counts as (
    select
        program_of_study_code,
        legacy_cluster,
        count(*) as courses
    from {{ ref('stg_courses') }}
    where program_of_study_code is not null
    group by program_of_study_code, legacy_cluster
),

ranked as (
    select
        course_counts.*,
        row_number() over (
            partition by program_of_study_code order by courses desc, legacy_cluster asc
        ) as legacy_rank
    from course_counts
)

select
    program_of_study_code,
    legacy_cluster,
    legacy_cluster in {{ sql_string_list(var('high_cost_legacy_clusters')) }} as is_high_cost
from ranked
where legacy_rank = 1
