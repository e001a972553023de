{#-
    Reporting dimensions shared by every mart, written once so each mart states the same
    level ids: level in ('state','district','school') with entity_code 'NM', district_code,
    district_code || '-' || location_code, and parent_entity_code (the entity one level up,
    so published cells of sibling entities can be protected together).
-#}

{#- One row per level; cross-joined to student rows to count each student at every level. -#}
{% macro levels_relation() -%}
    (
        select 'state' as level, 1 as level_order
        union all select 'district' as level, 2 as level_order
        union all select 'school' as level, 3 as level_order
    )
{%- endmacro %}

{% macro entity_code(level_col, district_col, location_col) -%}
    case {{ level_col }}
        when 'state' then 'NM'
        when 'district' then {{ district_col }}
        else {{ district_col }} || '-' || {{ location_col }}
    end
{%- endmacro %}

{% macro parent_entity_code(level_col, district_col) -%}
    case {{ level_col }}
        when 'state' then cast(null as {{ dbt.type_string() }})
        when 'district' then 'NM'
        else {{ district_col }}
    end
{%- endmacro %}

{#- District and school columns kept only at the levels where they identify the entity. -#}
{% macro level_district_code(level_col, district_col) -%}
    case when {{ level_col }} in ('district', 'school') then {{ district_col }} end
{%- endmacro %}

{% macro level_location_code(level_col, location_col) -%}
    case when {{ level_col }} = 'school' then {{ location_col }} end
{%- endmacro %}

{#-
    Program scopes: each student-program row is counted for its program of study, for its
    career cluster as a whole (program 'ALL') and for all programs ('ALL', 'ALL'). A student
    in several programs counts once in a cluster or ALL row because marts count distinct
    students.
-#}
{% macro program_scopes_relation() -%}
    (
        select 'program' as program_scope
        union all select 'cluster' as program_scope
        union all select 'all' as program_scope
    )
{%- endmacro %}

{% macro scoped_program_code(scope_col, program_col) -%}
    case when {{ scope_col }} = 'program' then {{ program_col }} else 'ALL' end
{%- endmacro %}

{% macro scoped_cluster(scope_col, cluster_col) -%}
    case when {{ scope_col }} = 'all' then 'ALL' else {{ cluster_col }} end
{%- endmacro %}

{#- The level columns of a school-grain row joined to levels_relation() as lv. -#}
{% macro level_columns(lv='lv', src='cell') -%}
    {{ lv }}.level,
    {{ entity_code(lv ~ '.level', src ~ '.district_code', src ~ '.location_code') }} as entity_code,
    {{ parent_entity_code(lv ~ '.level', src ~ '.district_code') }} as parent_entity_code,
    {{ level_district_code(lv ~ '.level', src ~ '.district_code') }} as district_code,
    {{ level_location_code(lv ~ '.level', src ~ '.location_code') }} as location_code
{%- endmacro %}

{#- The program columns of a student-program row joined to program_scopes_relation() as ps. -#}
{% macro program_scope_columns(ps='ps', src='s') -%}
    {{ scoped_program_code(ps ~ '.program_scope', src ~ '.program_of_study_code') }}
        as program_of_study_code,
    {{ scoped_cluster(ps ~ '.program_scope', src ~ '.career_cluster') }} as career_cluster
{%- endmacro %}

{#-
    Roll school-grain cells up to district and state by summing. Valid only for counts of
    distinct students, because attribution puts each student in exactly one school per
    reporting year, so school counts add up to their district's and the state's.
-#}
{% macro roll_up_to_levels(cells, dims, sums) -%}
    select
        level,
        entity_code,
        parent_entity_code,
        district_code,
        location_code,
        {% for d in dims %}{{ d }},
        {% endfor -%}
        {% for m in sums %}sum({{ m }}) as {{ m }}{{ "," if not loop.last }}
        {% endfor %}
    from (
        select
            {{ level_columns('lv', 'cell') }},
            {% for d in dims %}cell.{{ d }},
            {% endfor -%}
            {% for m in sums %}cell.{{ m }}{{ "," if not loop.last }}
            {% endfor %}
        from {{ cells }} as cell
        cross join {{ levels_relation() }} as lv
    ) as leveled
    group by
        level, entity_code, parent_entity_code, district_code, location_code
        {%- for d in dims %}, {{ d }}{% endfor %}
{%- endmacro %}
