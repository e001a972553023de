{#- Two-sided 95 percent normal quantile, used for the confidence intervals. -#}
{% macro z_95() -%}1.959963984540054{%- endmacro %}
