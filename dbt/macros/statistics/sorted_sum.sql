{#-
    The sum of a double-precision expression over a group, added in ascending order of its
    values: the same bits whatever order the rows arrive in (decision 0035).

    A plain sum() of doubles depends on the order of the additions, and DuckDB's parallel
    aggregation (and Spark's partitions) add in an order that changes from build to build,
    so the last digit of a mean or a standard error could differ between two builds of the
    same data. Sorted first, the values are added one after the other in an order that is a
    function of the values alone (equal values are the same bits, but for -0 and +0, which
    add to the same result), so the sum is too. DuckDB drops an ORDER BY inside sum() (sum is
    declared order-independent), hence the list: list_sort, then list_sum adds the sorted
    list in one state. Nulls are skipped as by sum(); a group of nulls only sums to null.

    For money and counts an exact sum is better: sum a DECIMAL or an integer (exact in any
    order). This macro is for the terms that are not exact in any type: ratios, variances.
-#}
{% macro sorted_sum(expression) -%}
    {{ return(adapter.dispatch('sorted_sum', 'nm_cte')(expression)) }}
{%- endmacro %}

{% macro default__sorted_sum(expression) -%}
    list_sum(list_sort(list(cast({{ expression }} as {{ type_double() }}))))
{%- endmacro %}

{#- collect_list skips nulls; aggregate() adds the sorted array left to right. -#}
{% macro spark__sorted_sum(expression) -%}
    case when count({{ expression }}) > 0 then aggregate(
        array_sort(collect_list(cast({{ expression }} as double))),
        cast(0 as double),
        (running_total, term) -> running_total + term
    ) end
{%- endmacro %}
