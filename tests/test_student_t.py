"""The Student t quantile of the matched comparison's interval
(dbt/macros/statistics/student_t.sql).

Portable SQL has no t quantile, so the macro interpolates a grid that scipy computed. The
macro is rendered with Jinja as dbt renders it and run on DuckDB over a fine range of
degrees of freedom: within 0.1 percent of scipy.stats.t.ppf(0.975, df) everywhere, and the
grid it holds is the one scripts/student_t_grid.py prints.
"""

from __future__ import annotations

import re
import sys

import duckdb
import jinja2
import numpy as np
from scipy.stats import t as student_t

from dagster_project.settings import REPO_ROOT

MACRO = REPO_ROOT / "dbt" / "macros" / "statistics" / "student_t.sql"


def _render(template: str) -> str:
    return jinja2.Environment().from_string(MACRO.read_text() + template).render()


def test_grid_is_scipy() -> None:
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    from student_t_grid import grid_rows

    numbers = re.findall(
        r"select ([\d.]+) as df_low, ([\d.]+) as df_high, ([\d.]+) as t_low, ([\d.]+) as t_high",
        MACRO.read_text(),
    )
    assert [tuple(float(x) for x in row) for row in numbers] == grid_rows()


def test_quantile_within_a_tenth_of_a_percent_of_scipy() -> None:
    dfs = np.concatenate([np.linspace(1, 40, 3901), np.geomspace(40, 1e6, 200), [0.5]])
    sql = _render(
        "select d.df, {{ student_t_975('d.df', 'grid') }} as t from d "
        "left join {{ student_t_975_grid() }} as grid "
        "on d.df >= grid.df_low and d.df < grid.df_high"
    )
    with duckdb.connect() as con:
        con.execute("create table d (df double)")
        con.executemany("insert into d values (?)", [[float(x)] for x in dfs] + [[None]])
        rows = con.execute(sql).fetchall()
    assert len(rows) == len(dfs) + 1
    assert (None, None) in rows  # no degrees of freedom (zero variance): no quantile
    for df, t in rows:
        if df is None:
            continue
        expected = student_t.ppf(0.975, max(df, 1.0))
        assert abs(t / expected - 1) < 1e-3, (df, t, expected)
