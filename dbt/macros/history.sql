{#-
    True when the reporting year year_expr counts concentrators from a complete enrollment
    and course history (int_reporting_years.is_history_complete), false for the first loaded
    years and for a year that is no reporting year. Every mart that counts concentrators
    carries it as is_history_complete.
-#}
{% macro is_history_complete(year_expr) -%}
    coalesce((
        select max(case when reporting_years.is_history_complete then 1 else 0 end)
        from {{ ref('int_reporting_years') }} as reporting_years
        where reporting_years.school_year = {{ year_expr }}
    ) = 1, false)
{%- endmacro %}
