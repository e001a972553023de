"""The Great Expectations suites as the gate reads them, and the values their parameters take.

The suites are reviewed JSON files under expectations/gx/expectations/ (one per extract).
Each expectation carries ``meta.rule`` (a stable short name, stored in audit.dq_results),
``meta.severity`` (ERROR quarantines failing rows and, beyond ``mostly``, holds the
submission: gate.py; WARN is reported only), ``meta.reason_code`` (a RowReason code) and
``meta.message`` (a sentence a district clerk understands). Values that change with the
batch or with PED's reference lists are suite parameters (``{"$PARAMETER": ...}``) filled in
here.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

from dagster_project.settings import DBT_PROJECT_DIR, EXPECTATIONS_DIR

ERROR = "ERROR"
WARN = "WARN"
SEVERITIES = (ERROR, WARN)
DEFAULT_MOSTLY = 0.99

# Validation-only columns derived from the frame before GX sees it: a school code is only
# meaningful within its district, so the pair is checked against the seed as one value.
SCHOOL_KEY = "_school_key"
# The contract column a derived column's failures are reported against.
REPORTED_COLUMN = {SCHOOL_KEY: "location_code"}


def suites_dir() -> Path:
    """The reviewed suites: part of the code, the same whatever the settings."""
    return EXPECTATIONS_DIR / "gx" / "expectations"


def seeds_dir() -> Path:
    """PED's reference lists (dbt seeds): part of the code too."""
    return DBT_PROJECT_DIR / "seeds"


@dataclass(frozen=True)
class Rule:
    """One expectation of a suite, in the gate's terms."""

    name: str
    type: str
    severity: str
    reason_code: str
    message: str
    column: str | None
    mostly: float | None


@cache
def suite_json(extract: str) -> dict:
    path = suites_dir() / f"{extract}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _column_of(kwargs: dict) -> str | None:
    if "column" in kwargs:
        return REPORTED_COLUMN.get(kwargs["column"], kwargs["column"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    if "column_list" in kwargs:
        return ", ".join(c for c in kwargs["column_list"] if not c.startswith("_"))
    return None


def rules(extract: str) -> list[Rule]:
    """The suite's expectations in file order (GX reports them in the same order)."""
    out = []
    for item in suite_json(extract)["expectations"]:
        meta, kwargs = item["meta"], item["kwargs"]
        out.append(
            Rule(
                name=meta["rule"],
                type=item["type"],
                severity=meta["severity"],
                reason_code=meta["reason_code"],
                message=meta["message"],
                column=_column_of(kwargs),
                mostly=kwargs.get("mostly"),
            )
        )
    return out


@dataclass(frozen=True)
class CodeSets:
    """PED's reference lists (the dbt seeds) that codes in the extracts must come from."""

    district_codes: frozenset[str]
    school_keys: frozenset[str]  # "<district_code>:<location_code>"
    course_codes: frozenset[str]
    credential_codes: frozenset[str]
    cip_codes: frozenset[str]
    program_of_study_codes: frozenset[str]


def school_key(district_code: str, location_code: str) -> str:
    return f"{district_code}:{location_code}"


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: reference list missing; the quality gate checks codes against the dbt seeds"
        )
    with path.open(newline="", encoding="utf-8-sig") as f:
        return [
            {k.strip().lower(): (v or "").strip() for k, v in row.items()}
            for row in csv.DictReader(f)
        ]


def _codes(rows: list[dict[str, str]], column: str) -> frozenset[str]:
    return frozenset(r[column] for r in rows if r.get(column))


def read_code_sets(directory: Path | None = None) -> CodeSets:
    directory = directory or seeds_dir()
    return _read_code_sets(directory.resolve(), _mtimes(directory))


def _mtimes(directory: Path) -> tuple[float, ...]:
    names = ("schools", "courses", "credentials", "programs_of_study")
    return tuple(
        (directory / f"{n}.csv").stat().st_mtime if (directory / f"{n}.csv").exists() else 0.0
        for n in names
    )


@cache
def _read_code_sets(directory: Path, _mtimes: tuple[float, ...]) -> CodeSets:
    """Cached per directory and file times: PED may edit a seed between runs."""
    schools = _read_csv(directory / "schools.csv")
    credentials = _read_csv(directory / "credentials.csv")
    return CodeSets(
        district_codes=_codes(schools, "district_code"),
        school_keys=frozenset(school_key(r["district_code"], r["location_code"]) for r in schools),
        course_codes=_codes(_read_csv(directory / "courses.csv"), "course_code"),
        credential_codes=_codes(credentials, "credential_code"),
        cip_codes=_codes(credentials, "cip_code"),
        program_of_study_codes=_codes(
            _read_csv(directory / "programs_of_study.csv"), "program_of_study_code"
        ),
    )


def _midnight(day: date) -> datetime:
    # GX compares date columns (validated as datetime64) only with datetimes, not dates.
    return datetime(day.year, day.month, day.day)


def suite_parameters(year: int, today: date, code_sets: CodeSets) -> dict[str, object]:
    """School (or fiscal) year ``year`` runs from July 1 of year-1 to June 30 of year."""
    return {
        "year_start": _midnight(date(year - 1, 7, 1)),
        "year_end": _midnight(date(year, 6, 30)),
        "today": _midnight(today),
        # A cohort (expected graduation year) from four years back (a fifth-year senior) to
        # seven years ahead (a sixth grader held back once).
        "cohort_min": year - 4,
        "cohort_max": year + 7,
        "district_codes": sorted(code_sets.district_codes),
        "school_keys": sorted(code_sets.school_keys),
        "course_codes": sorted(code_sets.course_codes),
        "credential_codes": sorted(code_sets.credential_codes),
        "cip_codes": sorted(code_sets.cip_codes),
        "program_of_study_codes": sorted(code_sets.program_of_study_codes),
    }
