{#-
    The formula_parameters seed (edited by PED) has every parameter the funding-formula
    simulator reads, once and with a value; formula_parameter() reads a missing one as null,
    which would silently null the amounts it multiplies. Returns the parameters that are
    missing, repeated or without a value. Read by:
    - funding_simulation.sql: base_per_cte_school, per_concentrator, credential_tier_1,
      credential_tier_2, credential_tier_3, high_cost_uplift_per_concentrator,
      quality_incentive_per_point
    - int_funding_inputs.sql, through int_school_cte_profile.sql (cte_offer_min_grade,
      cte_offer_max_grade) and int_program_quality_scores.sql (quality_meets_rating)
-#}
{%- set required = [
    'base_per_cte_school',
    'per_concentrator',
    'credential_tier_1',
    'credential_tier_2',
    'credential_tier_3',
    'high_cost_uplift_per_concentrator',
    'quality_incentive_per_point',
    'cte_offer_min_grade',
    'cte_offer_max_grade',
    'quality_meets_rating',
] %}
with required as (
    {% for name in required -%}
    select '{{ name }}' as parameter{% if not loop.last %} union all{% endif %}
    {% endfor %}
),

rows_per_parameter as (
    select
        required.parameter,
        count(seed.parameter) as parameter_rows,
        count(seed.value) as value_rows
    from required
    left join {{ ref('formula_parameters') }} as seed
        on seed.parameter = required.parameter
    group by required.parameter
)

select parameter, parameter_rows, value_rows
from rows_per_parameter
where parameter_rows <> 1 or value_rows <> 1
