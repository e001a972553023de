{#-
    Rows of one raw table that came from a file whose manifest status is LOADED. Ingest
    already deletes the rows of a replaced submission; the join also keeps out any row
    whose file was later marked otherwise, so staging never serves a superseded slice.
-#}
{% macro loaded_rows(table_name) -%}
    select raw_rows.*
    from {{ source('raw', table_name) }} as raw_rows
    inner join {{ source('raw', 'load_manifest') }} as manifest
        on manifest.manifest_id = raw_rows._manifest_id
    where manifest.status = 'LOADED'
{%- endmacro %}
