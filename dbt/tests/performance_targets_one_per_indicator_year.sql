{#-
    The performance_targets seed (edited by PED) has exactly one state target per Perkins V
    secondary indicator and school year, in every year from its first to its last: a missing
    one leaves perkins_indicators without a target (is_below_target_trigger null), a
    repeated one would repeat the indicator's rows. Returns each indicator-year with no row,
    more than one or no target value, each row of an unknown indicator, and the years
    missing between the first and the last.
-#}
{%- set indicators = ['1S1', '1S2', '2S1', '2S2', '2S3', '3S1', '4S1', '5S1', '5S2', '5S3'] %}
with indicators as (
    {% for code in indicators -%}
    select '{{ code }}' as indicator{% if not loop.last %} union all{% endif %}
    {% endfor %}
),

years as (
    select distinct school_year from {{ ref('performance_targets') }}
),

per_indicator_year as (
    select
        indicators.indicator,
        years.school_year,
        count(seed.indicator) as target_rows,
        count(seed.state_target) as target_values
    from indicators
    cross join years
    left join {{ ref('performance_targets') }} as seed
        on seed.indicator = indicators.indicator
        and seed.school_year = years.school_year
    group by indicators.indicator, years.school_year
)

select indicator, school_year, 'not exactly one row with a target' as problem
from per_indicator_year
where target_rows <> 1 or target_values <> 1

union all

select indicator, school_year, 'unknown indicator' as problem
from {{ ref('performance_targets') }}
where indicator not in (select indicator from indicators)

union all

select
    cast(null as {{ dbt.type_string() }}) as indicator,
    last_year as school_year,
    'years missing between the first and the last' as problem
from (
    select count(*) as year_count, min(school_year) as first_year, max(school_year) as last_year
    from years
) as span
where year_count <> last_year - first_year + 1
