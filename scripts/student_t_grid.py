"""Print the grid of Student t 0.975 quantiles that dbt/macros/statistics/student_t.sql holds.

    .venv/bin/python scripts/student_t_grid.py

scipy computes the quantiles (scipy.stats.t.ppf); the macro interpolates between them in
SQL, where no portable function exists. tests/test_student_t.py checks that the macro's
grid is this one and that the interpolation stays within 0.1 percent of scipy.
"""

from __future__ import annotations

from itertools import pairwise

from scipy.stats import t as student_t

# Dense where t changes fast (few degrees of freedom), sparse near 30; from 30 on the macro
# uses the Cornish-Fisher expansion instead.
GRID: tuple[float, ...] = (
    *(1 + k / 20 for k in range(20)),
    *(2 + k / 10 for k in range(20)),
    *(4 + k / 4 for k in range(16)),
    *range(8, 21),
    22,
    24,
    26,
    28,
    30,
)


def grid_rows() -> list[tuple[float, float, float, float]]:
    """(df_low, df_high, t_low, t_high) for each pair of neighbouring grid points."""
    points = [round(float(df), 2) for df in GRID]
    t = {df: round(float(student_t.ppf(0.975, df)), 10) for df in points}
    return [(low, high, t[low], t[high]) for low, high in pairwise(points)]


def main() -> None:
    rows = [
        f"select {low:g} as df_low, {high:g} as df_high, {t_low:.10f} as t_low, "
        f"{t_high:.10f} as t_high"
        for low, high, t_low, t_high in grid_rows()
    ]
    print("\n        union all ".join(rows))


if __name__ == "__main__":
    main()
