"""Figures that docs/outcomes.md quotes, measured from a run, never typed by hand.

    .venv/bin/python scripts/outcome_figures.py                # sample scale, 6 years, seed 7
    .venv/bin/python scripts/outcome_figures.py --scale state --out /tmp/state.md
    .venv/bin/python scripts/outcome_figures.py --workdir /tmp/figs --reuse   # no rebuild

Generates the sample data (dagster_project.sample_data), loads it with the ingest loader,
builds the outcome models and their ancestors with dbt (as tests/test_outcome_marts.py
does), then writes docs/outcome_figures.md: the matched comparison against the effects the
generator plants (truth.json), the naive (unmatched) differences, the standard error under
the former pooled-variance formula beside the per-stratum one the mart uses, coverage of
the outcomes built on wage and postsecondary records, and the cost study's school counts.
The estimator is recomputed here from int_comparison_strata in Python, independently of
the SQL, and the two must agree.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DBT_DIR = REPO / "dbt"
DBT = REPO / ".venv" / "bin" / "dbt"
# The outcome marts of issue 6 and their intermediate models, by area (dbt/models/README.md).
OUTCOME_MODELS = [
    f"path:models/{layer}/{area}"
    for layer in ("marts", "intermediate")
    for area in ("outcomes", "labor_market", "finance", "program_review")
]
PLANTED = {
    "graduation": ("graduation_pp", 0.01),
    "placement_graduates": ("placement_pp", 0.01),
    "earnings_q2_employed_graduates": ("earnings_quarterly_dollars", 1.0),
}


def _dbt(warehouse: Path, target: Path, *args: str) -> None:
    env = os.environ | {
        "CTE_WAREHOUSE_PATH": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    command = [str(DBT), *args, "--target-path", str(target), "--log-path", str(target / "logs")]
    done = subprocess.run(command, cwd=DBT_DIR, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"dbt {' '.join(args)} failed:\n{done.stdout[-6000:]}")


def load(workdir: Path, scale: str, years: int, seed: int) -> None:
    from dagster_project.ingest.loader import Loader
    from dagster_project.sample_data import generate
    from dagster_project.warehouse import ensure_schema

    landing = workdir / "raw" / "landing"
    generate(scale, years, seed, landing)
    warehouse = workdir / "cte.duckdb"
    warehouse.unlink(missing_ok=True)
    with duckdb.connect(str(warehouse)) as con:
        ensure_schema(con)
        Loader(con, landing, b"key").load(p for p in landing.rglob("*") if p.is_file())


def build(workdir: Path) -> Path:
    warehouse = workdir / "cte.duckdb"
    target = workdir / "target"
    _dbt(warehouse, target, "seed")
    _dbt(warehouse, target, "run", "--select", *(f"+{m}" for m in OUTCOME_MODELS))
    return warehouse


def _estimate(strata: list[tuple]) -> dict[str, float | None]:
    """Difference, the former pooled-variance SE and the per-stratum (Neyman) SE.

    strata rows: (treated_n, treated_sum, treated_ss, control_n, control_sum, control_ss).
    """
    n_t = sum(r[0] for r in strata)
    diff = sum(r[0] / n_t * (r[1] / r[0] - r[4] / r[3]) for r in strata)

    def within(n: float, s: float, ss: float) -> float:
        return max(ss - s * s / n, 0.0)

    def pooled(side: int) -> float | None:
        n = sum(r[side] for r in strata)
        if n > len(strata):
            return sum(within(*r[side : side + 3]) for r in strata) / (n - len(strata))
        if n > 1:
            total, squares = sum(r[side + 1] for r in strata), sum(r[side + 2] for r in strata)
            return max(squares - total * total / n, 0.0) / (n - 1)
        return None

    v_t, v_c = pooled(0), pooled(3)
    if v_t is None or v_c is None:
        return {"difference": diff, "se_pooled": None, "se_stratum": None, "n": n_t}
    factor = sum((r[0] / n_t) ** 2 / r[3] for r in strata)
    se_pooled = math.sqrt(v_t / n_t + v_c * factor)
    variance = 0.0
    for r in strata:
        w2 = (r[0] / n_t) ** 2
        for side, fallback in ((0, v_t), (3, v_c)):
            n = r[side]
            var = within(*r[side : side + 3]) / (n - 1) if n > 1 else fallback
            variance += w2 * var / n
    return {
        "difference": diff,
        "se_pooled": se_pooled,
        "se_stratum": math.sqrt(variance),
        "n": n_t,
    }


def figures(con: duckdb.DuckDBPyConnection, truth: dict) -> list[str]:
    cohorts = truth["full_history_cohorts"]
    in_cohorts = f"({', '.join(str(c) for c in cohorts)})"
    lines = [
        f"Scale `{truth['scale']}`, seed {truth['seed']}, school years "
        f"{truth['years'][0]}-{truth['years'][-1]}; full-history cohorts {cohorts[0]}-"
        f"{cohorts[-1]} (truth.json). Comparison scope `all` (every concentrator).",
        "",
        "## Matched comparison against the planted effects",
        "",
        "Per cohort, then pooled over the full-history cohorts with treated-count weights (as "
        "tests/test_outcome_marts.py pools them). `SE pooled` is the former formula (variances "
        "pooled within strata), `SE per stratum` the one the mart uses now; `mart SE` is "
        "read from comparison_outcomes and must equal the per-stratum SE.",
        "",
        "| outcome | cohort | matched treated | difference | SE pooled | SE per stratum "
        "| ratio | mart SE | t df | 95% CI (mart) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    outcomes = [
        r[0]
        for r in con.execute(
            "select distinct outcome from intermediate.int_comparison_strata order by 1"
        ).fetchall()
    ]
    pooled_rows: dict[str, list] = {}
    for outcome in outcomes:
        for cohort in cohorts:
            strata = con.execute(
                "select treated_n, treated_sum, treated_sum_squares, control_n, control_sum, "
                "control_sum_squares from intermediate.int_comparison_strata "
                "where comparison_scope = 'all' and outcome = ? and cohort_year = ? "
                "and treated_n > 0 and control_n > 0",
                [outcome, cohort],
            ).fetchall()
            if not strata:
                continue
            est = _estimate(strata)
            mart = con.execute(
                "select standard_error, t_df, ci_low, ci_high from marts.comparison_outcomes "
                "where comparison_scope = 'all' and outcome = ? and cohort = ?",
                [outcome, str(cohort)],
            ).fetchall()
            se, df, low, high = mart[0] if mart else (None, None, None, None)
            pooled_rows.setdefault(outcome, []).append((est, se))
            lines.append(
                f"| {outcome} | {cohort} | {est['n']} | {_fmt(est['difference'])} | "
                f"{_fmt(est['se_pooled'])} | {_fmt(est['se_stratum'])} | "
                f"{_ratio(est['se_pooled'], est['se_stratum'])} | {_fmt(se)} | {_fmt(df, 1)} | "
                f"{_fmt(low)} to {_fmt(high)} |"
            )
    lines += [
        "",
        "Pooled over the full-history cohorts:",
        "",
        "| outcome | planted | recovered | SE pooled | SE per stratum | ratio | within 2.5 SE |",
        "|---|---|---|---|---|---|---|",
    ]
    for outcome, rows in pooled_rows.items():
        total = sum(r[0]["n"] for r in rows)
        estimate = sum(r[0]["n"] * r[0]["difference"] for r in rows) / total
        se_old = math.sqrt(sum((r[0]["n"] / total * (r[0]["se_pooled"] or 0)) ** 2 for r in rows))
        se_new = math.sqrt(sum((r[0]["n"] / total * (r[0]["se_stratum"] or 0)) ** 2 for r in rows))
        planted = ""
        ok = ""
        if outcome in PLANTED:
            key, scale = PLANTED[outcome]
            planted_value = truth["effects"][key] * scale
            planted = _fmt(planted_value)
            ok = "yes" if abs(estimate - planted_value) <= 2.5 * se_new else "no"
        lines.append(
            f"| {outcome} | {planted} | {_fmt(estimate)} | {_fmt(se_old)} | {_fmt(se_new)} | "
            f"{_ratio(se_old, se_new)} | {ok} |"
        )

    lines += [
        "",
        "## Naive (unmatched) differences and the comparison group",
        "",
        "Every concentrator against every non-concentrator of the full-history cohorts, no "
        "matching; and the share of non-concentrators (the controls) who are CTE "
        "participants (completed a course of a program).",
        "",
        "| outcome | concentrators | non-concentrators | naive difference |",
        "|---|---|---|---|",
    ]
    naive = {
        "graduation": "case when has_graduated then 1.0 else 0.0 end",
        "placement_graduates": "case when is_placed then 1.0 else 0.0 end",
        "earnings_q2_employed_graduates": "earnings_q2",
    }
    for outcome, expression in naive.items():
        row = con.execute(
            f"select count(*) filter (where is_concentrator and v is not null), "
            f"count(*) filter (where not is_concentrator and v is not null), "
            f"avg(v) filter (where is_concentrator) - avg(v) filter (where not is_concentrator) "
            f"from (select *, {expression} as v from intermediate.int_comparison_students "
            f"where cohort_year in {in_cohorts}"
            + (" and is_placement_observed" if outcome.startswith("placement") else "")
            + (" and has_graduated" if outcome != "graduation" else "")
            + ")"
        ).fetchone()
        lines.append(f"| {outcome} | {row[0]} | {row[1]} | {_fmt(row[2])} |")
    share = con.execute(
        "select cohort_year, count(*), count(participants.student_key) "
        "from intermediate.int_comparison_students as students "
        "left join (select distinct student_key, school_year "
        "from intermediate.int_program_concentration) as participants "
        "on participants.student_key = students.student_key "
        "and participants.school_year = students.cohort_year "
        "where not students.is_concentrator group by cohort_year order by cohort_year"
    ).fetchall()
    lines += [
        "",
        "| cohort | non-concentrators | of them CTE participants | share |",
        "|---|---|---|---|",
    ]
    lines += [f"| {c} | {n} | {p} | {_fmt(p / n, 3)} |" for c, n, p in share]

    lines += [
        "",
        "## Coverage of the outcomes built on wage and postsecondary records",
        "",
        "State, all programs (program_outcomes), per exit year: leavers, the share found in "
        "the wage records and in the postsecondary records after exit.",
        "",
        "| exit year | leavers | in wage records | in postsecondary records | employment rate q2 |",
        "|---|---|---|---|---|",
    ]
    for row in con.execute(
        "select exit_year, leavers, wage_record_share, postsecondary_record_share, "
        "employment_rate_q2 from marts.program_outcomes where level = 'state' "
        "and program_of_study_code = 'ALL' and career_cluster = 'ALL' order by exit_year"
    ).fetchall():
        lines.append(
            f"| {row[0]} | {row[1]} | {_fmt(row[2], 3)} | {_fmt(row[3], 3)} | {_fmt(row[4], 3)} |"
        )

    lines += [
        "",
        "## Cost study",
        "",
        "Schools in the study per fiscal year (high schools, and combined 6-12 schools with "
        "their grades 9-12 students), Powerhouses among them, and the Powerhouse difference in "
        "instruction per student (planted "
        f"{_fmt(truth['effects']['instructional_spending_per_student_cte_heavy_dollars'])}), "
        "with its Welch SE (difference / t) and both one-tailed p-values (decision 0030).",
        "",
        "| fiscal year | schools | of them combined | Powerhouses | difference | Welch SE "
        "| p Welch | p pooled |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in con.execute(
        "select c.fiscal_year, count(*), count(*) filter (where c.school_level = 'COMBINED'), "
        "count(*) filter (where c.is_cte_powerhouse), max(s.mean_difference), "
        "max(s.mean_difference / nullif(s.welch_t, 0)), max(s.p_value_welch), "
        "max(s.p_value_pooled) "
        "from marts.cost_per_student as c left join marts.cost_study as s "
        "on s.fiscal_year = c.fiscal_year and s.school_group = 'CTE_POWERHOUSE' "
        "where c.instruction_per_student is not null "
        "group by c.fiscal_year order by c.fiscal_year"
    ).fetchall():
        cells = [*map(str, row[:4]), *map(_fmt, row[4:6]), *(_p(v) for v in row[6:])]
        lines.append(f"| {' | '.join(cells)} |")
    lines += [
        "",
        "## Funding simulator",
        "",
        "The simulated allocation over every district, the schools that offer CTE (grades 9-12 "
        "participants), and the actual NextGen CTE award per enrolled grade 9-12 student "
        "across districts (the LESC brief cites 27 to 7,888 dollars per student in FY25).",
        "",
        "| fiscal year | districts | CTE schools | simulated allocation | NextGen per enrolled "
        "student, min | median | max |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in con.execute(
        "select fiscal_year, count(*), sum(cte_schools), sum(simulated_allocation), "
        "min(nextgen_award_per_enrolled_student), median(nextgen_award_per_enrolled_student), "
        "max(nextgen_award_per_enrolled_student) "
        "from marts.funding_simulation group by fiscal_year order by fiscal_year"
    ).fetchall():
        lines.append(f"| {' | '.join([*map(str, row[:3]), *map(_dollars, row[3:])])} |")
    return lines


def effect_response(workdir: Path, zero: Path, cohorts: list[int]) -> list[str]:
    """The matched and naive earnings estimates with the planted effect and without it.

    The generator draws the same students, placements and wages whatever the effect (it is
    added to the wage, not drawn), so with the same seed the difference between the two
    runs' estimates is each estimator's response to the planted +900 alone, free of
    sampling noise: 900 when treated and controls are classified as planted, less when
    planted concentrators sit among the controls.
    """
    lines = [
        "",
        "## Earnings: response to the planted effect, noise-free",
        "",
        "The same seed generated twice, with the earnings effect as planted and at 0 (the "
        "wages drawn are the same; only the +900 differs). `at 0` is the estimate without "
        "any effect, i.e. the sampling noise of this seed; `response` is the estimate's "
        "change caused by the planted effect. Matched: comparison scope `all`; naive: every "
        "concentrator against every non-concentrator (employed graduates).",
        "",
        "| outcome | cohort | full history | matched | matched at 0 | matched response "
        "| naive response |",
        "|---|---|---|---|---|---|---|",
    ]
    with (
        duckdb.connect(str(workdir / "cte.duckdb"), read_only=True) as planted,
        duckdb.connect(str(zero / "cte.duckdb"), read_only=True) as none,
    ):
        years = [
            r[0]
            for r in planted.execute(
                "select distinct cohort_year from intermediate.int_comparison_strata order by 1"
            ).fetchall()
        ]
        for outcome, column in (
            ("earnings_q2_employed_graduates", "earnings_q2"),
            ("earnings_q4_employed_graduates", "earnings_q4"),
        ):
            for cohort in years:
                pair = []
                for con in (planted, none):
                    strata = con.execute(
                        "select treated_n, treated_sum, treated_sum_squares, control_n, "
                        "control_sum, control_sum_squares from intermediate.int_comparison_strata "
                        "where comparison_scope = 'all' and outcome = ? and cohort_year = ? "
                        "and treated_n > 0 and control_n > 0",
                        [outcome, cohort],
                    ).fetchall()
                    naive = con.execute(
                        f"select avg({column}) filter (where is_concentrator) "
                        f"- avg({column}) filter (where not is_concentrator) "
                        "from intermediate.int_comparison_students "
                        "where cohort_year = ? and has_graduated",
                        [cohort],
                    ).fetchone()[0]
                    pair.append((_estimate(strata)["difference"] if strata else None, naive))
                (matched, naive), (matched0, naive0) = pair
                if matched is None or matched0 is None:
                    continue
                lines.append(
                    f"| {outcome} | {cohort} | {'yes' if cohort in cohorts else 'no'} | "
                    f"{_fmt(matched)} | {_fmt(matched0)} | {matched - matched0:.2f} | "
                    f"{naive - naive0:.2f} |"
                )
    return lines


def _fmt(value: float | None, digits: int | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if digits is not None:
        return f"{value:.{digits}f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4f}"


def _dollars(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _p(value: float | None) -> str:
    return _fmt(value, 3)


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="sample")
    parser.add_argument("--years", type=int, default=6)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/outcome_figures"))
    parser.add_argument(
        "--reuse", action="store_true", help="keep the workdir's loaded data, rebuild the models"
    )
    parser.add_argument("--build-only", action="store_true", help="load and build, no figures")
    parser.add_argument(
        "--no-effect-response",
        action="store_true",
        help="skip the second run without the earnings effect",
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "outcome_figures.md")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if not args.reuse:
        load(args.workdir, args.scale, args.years, args.seed)
    warehouse = build(args.workdir)
    if args.build_only:
        return
    from dagster_project.sample_data import truth_path

    truth = json.loads(truth_path(args.workdir / "raw" / "landing").read_text())
    with duckdb.connect(str(warehouse), read_only=True) as con:
        body = figures(con, truth)
    if not args.no_effect_response:
        from dagster_project.sample_data import effects

        zero = args.workdir / "no_earnings_effect"
        if not args.reuse:
            planted, effects.EARNINGS_QUARTERLY_DOLLARS = effects.EARNINGS_QUARTERLY_DOLLARS, 0.0
            try:
                load(zero, args.scale, args.years, args.seed)
            finally:
                effects.EARNINGS_QUARTERLY_DOLLARS = planted
        build(zero)
        body += effect_response(args.workdir, zero, truth["full_history_cohorts"])
    command = (
        f"scripts/outcome_figures.py --scale {args.scale} --years {args.years} --seed {args.seed}"
    )
    header = [
        "# Outcome figures (generated)",
        "",
        f"Written by `{command}` on {datetime.now(UTC):%Y-%m-%d}; do not edit by hand, "
        "run the script again. docs/outcomes.md explains the methods.",
        "",
    ]
    args.out.write_text("\n".join(header + body) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
