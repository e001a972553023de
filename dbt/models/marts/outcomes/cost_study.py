"""cost_study: the LESC cost comparison per fiscal year and school group, with p-values.

Every figure but one is computed in SQL (int_cost_group_comparison: group means,
variances, Welch t and degrees of freedom, group cost totals). The one-tailed p-value needs
the survival function of Student's t distribution with fractional (Welch) degrees of
freedom, which no portable SQL dialect provides; scipy computes it here. See
docs/outcomes.md for why this is a Python model and how it runs on other adapters.
"""

import pandas as pd
from scipy.stats import t as student_t


def _to_pandas(relation) -> pd.DataFrame:
    # dbt-duckdb hands a DuckDBPyRelation; Spark-family adapters a pyspark DataFrame.
    if hasattr(relation, "df"):
        return relation.df()
    return relation.toPandas()


def _one_tailed_p(t_value: float, degrees_of_freedom: float) -> float:
    """P(T > t) under H0: the group's mean spending is not above the other schools'."""
    if pd.isna(t_value) or pd.isna(degrees_of_freedom):
        return float("nan")  # no comparison: ALL_HIGH_SCHOOLS, or a side of one school
    return float(student_t.sf(t_value, degrees_of_freedom))


def model(dbt, session) -> pd.DataFrame:
    dbt.config(materialized="table")
    frame = _to_pandas(dbt.ref("int_cost_group_comparison"))
    frame["p_value_one_tailed"] = pd.Series(
        [_one_tailed_p(t, df) for t, df in zip(frame["welch_t"], frame["welch_df"], strict=True)],
        index=frame.index,
        dtype="float64",
    )
    return frame
