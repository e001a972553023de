{#- An OEWS wage as the marts use it: BLS's '#' (at or above its cap, value blank) is the
    cap, var('oews_top_coded_annual_wage'); '*' and '**' stay null. -#}
{% macro oews_wage(wage, flag) -%}
    case when {{ flag }} = '#' then {{ var('oews_top_coded_annual_wage') }} else {{ wage }} end
{%- endmacro %}
