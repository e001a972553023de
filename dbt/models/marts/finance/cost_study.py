"""cost_study: the LESC cost comparison per fiscal year and school group, with p-values.

Every figure but the p-values is computed in SQL (int_cost_group_comparison: group means,
variances, Welch and pooled t and degrees of freedom, group cost totals). The LESC brief
does not say which two-sample t-test it used, so both one-tailed p-values (H1: the group
spends more per student than the other high schools) are reported: Welch's
(``scipy.stats.ttest_ind(equal_var=False, alternative="greater")``) and the pooled,
Student's one (``equal_var=True``), each on the schools' instruction per student from
cost_per_student. See docs/outcomes.md for why this is a Python model and how it runs on
other adapters.
"""

import math

import pandas as pd
from scipy.stats import ttest_ind

GROUP_COLUMNS = {
    "CTE_POWERHOUSE": "is_cte_powerhouse",
    "HIGH_COST_SPECIALIST": "is_high_cost_specialist",
}


def _to_pandas(relation) -> pd.DataFrame:
    # dbt-duckdb hands a DuckDBPyRelation; Spark-family adapters a pyspark DataFrame.
    if hasattr(relation, "df"):
        return relation.df()
    return relation.toPandas()


def _one_tailed_p(group: pd.Series, other: pd.Series, equal_var: bool) -> float:
    """P(T > t) under H0: the group's mean instruction per student is not above the others'.
    NaN without a comparison (ALL_HIGH_SCHOOLS), or where the test is undefined: Welch's
    needs two schools a side, the pooled test three schools and some spread."""
    n_g, n_o = len(group), len(other)
    if n_g == 0 or n_o == 0:
        return float("nan")
    if equal_var:
        spread = ((group - group.mean()) ** 2).sum() + ((other - other.mean()) ** 2).sum()
        if n_g + n_o < 3 or spread <= 0:
            return float("nan")
    elif n_g < 2 or n_o < 2 or (group.var() / n_g + other.var() / n_o) <= 0:
        return float("nan")
    result = ttest_ind(group, other, equal_var=equal_var, alternative="greater")
    p = float(result.pvalue)
    return p if math.isfinite(p) else float("nan")


def _p_values(schools: pd.DataFrame, year, group: str) -> tuple[float, float]:
    column = GROUP_COLUMNS.get(group)
    if column is None:
        return float("nan"), float("nan")
    year_rows = schools[schools["fiscal_year"] == year]
    member = year_rows[column].astype(bool)
    values = year_rows["instruction_per_student"].astype("float64")
    inside, outside = values[member], values[~member]
    return (
        _one_tailed_p(inside, outside, equal_var=False),
        _one_tailed_p(inside, outside, equal_var=True),
    )


def model(dbt, session) -> pd.DataFrame:
    dbt.config(materialized="table")
    frame = _to_pandas(dbt.ref("int_cost_group_comparison"))
    schools = _to_pandas(dbt.ref("cost_per_student"))
    # In one order every build: numpy's sums (means, variances) depend on the order of the
    # rows, and DuckDB returns a table's rows in the order its threads wrote them
    # (decision 0035).
    schools = schools[schools["instruction_per_student"].notna()].sort_values(
        ["fiscal_year", "district_code", "location_code"], ignore_index=True
    )
    pairs = [
        _p_values(schools, year, group)
        for year, group in zip(frame["fiscal_year"], frame["school_group"], strict=True)
    ]
    frame["p_value_welch"] = pd.Series([p[0] for p in pairs], index=frame.index, dtype="float64")
    frame["p_value_pooled"] = pd.Series([p[1] for p in pairs], index=frame.index, dtype="float64")
    return frame
