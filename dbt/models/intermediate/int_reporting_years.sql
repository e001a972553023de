-- Every school year present in enrollment: the reporting years Y the marts are built for.
select distinct school_year
from {{ ref('stg_student_enrollment') }}
