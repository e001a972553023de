"""The data-quality report PED sends back to districts: static HTML, offline, no student data.

``build_report`` writes ``<reports>/dq/index.html`` and one printable page per district and
school year (``<reports>/dq/<district>/<year>.html``; state-level files under ``state``).
Everything shown is a count, a code, a file name, a sentence written for district clerks or
an offending value of a code, date or number column (a few examples per reason): the
quarantine's ``value`` is read only for those columns (``ingest/codes.showable_columns``),
never for a student ID, name or birth date; student-level tables are read for counts only.
Charts are inline SVG drawn by the templates, so the pages need nothing from the network.
Each page links its submissions' row-level problem lists (``quality/error_file.py``),
written beside it in ``<district>/<year>-errors/``, says what the rows set aside cost
(counts of students in the indicators and programs, ``quality/impact.py``) and shows the
district-year's audit trail; the index shows the actions on no district (rollbacks).
"""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from dagster_project.contracts import EXTRACTS
from dagster_project.quality.certification import (
    STATUS_WORDS as REVIEW_WORDS,
)
from dagster_project.quality.certification import (
    Decision,
    DistrictYearStatus,
    decisions_by_district_year,
    status,
)
from dagster_project.quality.cross_file import SUITE as CROSS_FILE_SUITE
from dagster_project.quality.cross_file import run_cross_file_checks
from dagster_project.quality.error_file import (
    REASON_WORDS,
    SHOWN_VALUE,
    ErrorFile,
    write_error_file,
)
from dagster_project.quality.impact import Impact, impacts, table_exists
from dagster_project.quality.suites import ERROR, seeds_dir

STATE = "state"
# A state-level file's name may say another release kind (OEWS metro, nonmetro): still a
# state-level file, on the state's page.
RELEASE_KINDS = {k for e in EXTRACTS if e.state_level for k in e.release_kinds}
# Extracts a district is expected to send every year (state-level and optional ones are not).
DISTRICT_EXTRACTS = tuple(e.name for e in EXTRACTS if not e.state_level and not e.optional)


STATUS_WORDS = {
    "LOADED": "Loaded",
    "REJECTED": "Rejected: not loaded",
    "DUPLICATE": "Already received: ignored",
    "SUPERSEDED": "Replaced by a later file",
    "HELD": "Held: not used until reviewed",
}
# Submissions whose quarantine and failed checks the district sees: current and held ones.
SHOWN = "('LOADED', 'HELD')"
# Submissions that get an error file: those whose problems the district can act on.
WITH_ERROR_FILE = ("LOADED", "HELD", "REJECTED")
EXAMPLES = 3  # offending values shown per reason and column


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    relation = con.sql(sql)
    names = relation.columns
    return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]


_MANIFESTS = """
    select manifest_id, extract, district_code, school_year, file_name, submitted_at,
           loaded_at, status, reason_code, error_message, notes,
           coalesce(rows_read, 0) as rows_read, coalesce(rows_loaded, 0) as rows_loaded,
           coalesce(rows_quarantined, 0) as rows_quarantined, holds
    from raw.load_manifest
    order by district_code, school_year, extract, submitted_at, manifest_id
"""


_QUARANTINE = f"""
    select q.manifest_id, q.reason_code, q.column_name, q.message, count(*) as row_count,
           list(distinct q.value order by q.value) filter (
               where {SHOWN_VALUE}
           )[1:{EXAMPLES}] as examples
    from raw.quarantine q
    join raw.load_manifest m on m.manifest_id = q.manifest_id and m.status in {SHOWN}
    group by all
    order by q.manifest_id, row_count desc, q.reason_code
"""
_FAILED_CHECKS = f"""
    select manifest_id, suite, expectation, column_name, severity, reason_code, description,
           element_count, unexpected_count, unexpected_percent
    from audit.dq_results
    where manifest_id in (select manifest_id from raw.load_manifest where status in {SHOWN})
    qualify row_number() over (
        partition by manifest_id, suite, expectation order by validated_at desc) = 1
        and not success
    order by manifest_id, severity, expectation
"""

# The audit trail (audit.actions, decision 0023): what people did, with the file acted on.
_ACTIONS = """
    select case when a.district_code in ({kinds}) then '{state}' else a.district_code end
               as district_code,
           a.school_year, a.action, a.actor, a.note, a.extract, a.detail, a.acted_at,
           m.file_name
    from audit.actions a left join raw.load_manifest m using (manifest_id)
    order by a.acted_at
""".format(kinds=", ".join(f"'{k}'" for k in sorted(RELEASE_KINDS)) or "''", state=STATE)


def _what(action: dict) -> str:
    """What an action was taken on, in the history's words."""
    if action["file_name"]:
        return action["file_name"]
    if action["extract"]:
        scope = "" if action["district_code"] else ", every district"
        return f"{action['extract']} {action['school_year']}{scope}"
    if action["school_year"]:
        return "the school year"
    return "the published snapshot"


def history(actions: list[dict]) -> list[dict]:
    """Audit-trail rows as the report's history tables show them, oldest first."""
    return [
        {"acted_at": a["acted_at"], "step": a["action"].lower(), "what": _what(a)}
        | {"actor": a["actor"], "note": " · ".join(t for t in (a["note"], a["detail"]) if t)}
        for a in actions
    ]


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: str
    series: int  # 0 = last year, 1 = this year


@dataclass
class Chart:
    """A grouped bar chart (last year vs this year per extract), laid out for inline SVG."""

    title: str
    labels: list[tuple[float, str]]  # (x of the group's centre, extract)
    bars: list[Bar]
    width: int
    height: int
    baseline: float
    max_label: str


def bar_chart(
    title: str, groups: list[tuple[str, float, float]], fmt: str, width: int = 720
) -> Chart:
    """``groups``: (label, last year, this year); ``fmt`` formats values for the labels."""
    top, bottom, left = 24, 110, 90  # room on the left for the first slanted label
    height = 300
    plot_height = height - top - bottom
    peak = max([v for _, a, b in groups for v in (a, b)] + [0]) or 1
    group_width = (width - left) / max(len(groups), 1)
    bar_width = min(28.0, group_width / 3)
    bars, labels = [], []
    for i, (label, last, this) in enumerate(groups):
        centre = left + group_width * (i + 0.5)
        labels.append((centre, label))
        for series, value in enumerate((last, this)):
            h = plot_height * value / peak
            x = centre - bar_width + series * bar_width
            bars.append(Bar(x, top + plot_height - h, bar_width - 2, h, fmt.format(value), series))
    return Chart(title, labels, bars, width, height, top + plot_height, fmt.format(peak))


@dataclass
class Page:
    district: str
    district_name: str | None
    year: int
    files: list[dict] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)
    cross_file: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    error_files: dict[int, ErrorFile] = field(default_factory=dict)  # by manifest id
    reviews: list[Decision] = field(default_factory=list)  # the district-year's, oldest first
    actions: list[dict] = field(default_factory=list)  # its audit trail, oldest first
    # What its set-aside rows cost: filled in when the page is written (build_report).
    impacts: list[Impact] = field(default_factory=list)

    @property
    def href(self) -> str:
        return f"{self.district}/{self.year}.html"

    @property
    def errors_dir(self) -> str:
        """The error files' folder, beside the page (relative to the page's folder)."""
        return f"{self.year}-errors"

    @property
    def current(self) -> list[dict]:
        return [f for f in self.files if f["status"] == "LOADED"]

    def total(self, column: str) -> int:
        return sum(f[column] for f in self.current)

    @property
    def quarantine_rate(self) -> float:
        read = self.total("rows_read")
        return self.total("rows_quarantined") / read if read else 0.0

    @property
    def blocking(self) -> list[dict]:
        return [c for c in self.checks if c["severity"] == ERROR]

    @property
    def rejected(self) -> list[dict]:
        """Rejected files nothing has replaced: no file of the extract became current later."""
        return [
            f
            for f in self.files
            if f["status"] == "REJECTED"
            and not any(
                c["extract"] == f["extract"] and c["loaded_at"] > f["loaded_at"]
                for c in self.current
            )
        ]

    @property
    def held(self) -> list[dict]:
        return [f for f in self.files if f["status"] == "HELD"]

    @property
    def needs_action(self) -> bool:
        return bool(self.blocking or self.rejected or self.held)

    @property
    def history(self) -> list[dict]:
        """Every reload, release, rejection and review of the district-year, oldest first."""
        return history(self.actions)

    @property
    def review_status(self) -> DistrictYearStatus:
        latest = max((f["loaded_at"] for f in self.current), default=datetime.min)
        return status(self.needs_action, latest, self.reviews)


def _district_names(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """From the dbt seed table when dbt has run, else from the seed file itself."""
    if table_exists(con, "reference.schools"):
        rows = con.sql(
            "select district_code, min(district_name) from reference.schools group by 1"
        ).fetchall()
        return dict(rows)
    path = seeds_dir() / "schools.csv"
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as f:
        return {r["district_code"]: r["district_name"] for r in csv.DictReader(f)}


def _per_extract(files: list[dict]) -> dict[str, tuple[int, int]]:
    """extract -> (rows loaded, rows quarantined) over current submissions."""
    out: dict[str, tuple[int, int]] = {}
    for f in files:
        if f["status"] == "LOADED":
            loaded, quarantined = out.get(f["extract"], (0, 0))
            out[f["extract"]] = (loaded + f["rows_loaded"], quarantined + f["rows_quarantined"])
    return out


def _charts(this: list[dict], last: list[dict]) -> list[Chart]:
    now, before = _per_extract(this), _per_extract(last)
    extracts = sorted(set(now) | set(before))
    if not extracts:
        return []

    def rate(counts: tuple[int, int] | None) -> float:
        if not counts or not sum(counts):
            return 0.0
        return 100.0 * counts[1] / sum(counts)

    rows = [(e, before.get(e, (0, 0))[0], now.get(e, (0, 0))[0]) for e in extracts]
    rates = [(e, rate(before.get(e)), rate(now.get(e))) for e in extracts]
    return [
        bar_chart("Rows loaded per extract", rows, "{:,.0f}"),
        bar_chart("Share of rows set aside (quarantined), %", rates, "{:.1f}"),
    ]


def _file_of(by_manifest: dict[int, dict], row: dict) -> dict:
    manifest = by_manifest[row["manifest_id"]]
    return {"extract": manifest["extract"], "held": manifest["status"] == "HELD"}


def _pages(con: duckdb.DuckDBPyConnection) -> tuple[list[Page], list[dict]]:
    names = _district_names(con)
    files_by_slice: dict[tuple[str, int], list[dict]] = defaultdict(list)
    unidentified = []
    for f in _rows(con, _MANIFESTS):
        if f["district_code"] is None or f["school_year"] is None:
            unidentified.append(f)
        else:
            district = page_district(f["district_code"])
            files_by_slice[(district, f["school_year"])].append(f)
    by_manifest = {f["manifest_id"]: f for fs in files_by_slice.values() for f in fs}
    quarantine = _rows(con, _QUARANTINE)
    checks = _rows(con, _FAILED_CHECKS)
    reviews = decisions_by_district_year(con)
    actions = _rows(con, _ACTIONS)
    pages = []
    for (district, year), files in sorted(files_by_slice.items()):
        page = Page(district, names.get(district), year, files)
        page.reviews = reviews.get((district, year), [])
        page.actions = [
            a
            for a in actions
            if a["school_year"] == year and a["district_code"] in (district, None)
        ]
        ids = {f["manifest_id"] for f in page.current + page.held}
        page.quarantine = [
            q | _file_of(by_manifest, q) for q in quarantine if q["manifest_id"] in ids
        ]
        for c in checks:
            if c["manifest_id"] in ids:
                row = c | _file_of(by_manifest, c)
                (page.cross_file if c["suite"] == "cross_file" else page.checks).append(row)
        if district != STATE:
            received = {f["extract"] for f in page.current}
            page.missing = [e for e in DISTRICT_EXTRACTS if e not in received]
        page.charts = _charts(files, files_by_slice.get((district, year - 1), []))
        pages.append(page)
    return pages, unidentified


def page_of(con: duckdb.DuckDBPyConnection, district: str, year: int) -> Page | None:
    """The report page of one district-year; None when nothing was received for it."""
    pages, _ = _pages(con)
    return next((p for p in pages if (p.district, p.year) == (district, year)), None)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("dagster_project.quality", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(status_words=STATUS_WORDS, reason_words=REASON_WORDS)
    return env


def _write_error_files(con: duckdb.DuckDBPyConnection, page: Page, folder: Path) -> None:
    """Every shown submission's error file, in a folder emptied first: a file superseded
    since the last report must not leave its old list behind."""
    if folder.exists():
        shutil.rmtree(folder)
    for f in page.files:
        if f["status"] in WITH_ERROR_FILE:
            checks = [c for c in page.cross_file if c["manifest_id"] == f["manifest_id"]]
            page.error_files[f["manifest_id"]] = write_error_file(
                con, f, checks, folder, f"{page.errors_dir}/"
            )


@dataclass(frozen=True)
class PageScope:
    """The pages a command changed: a school year's, or one district's (or the state's)
    page of it. Writing every page and its error files takes about 70 s at state scale, so
    a command rewrites only its own pages and the index."""

    year: int
    district: str | None = None  # None: every page of the year

    def covers(self, page: Page) -> bool:
        if page.year != self.year:
            return False
        return self.district is None or page.district == page_district(self.district)


def page_district(district_code: str) -> str:
    """The page a slice's files are on: the district's, or the state's for state files."""
    return STATE if district_code in RELEASE_KINDS else district_code


def refresh_report(
    con: duckdb.DuckDBPyConnection,
    reports_dir: Path,
    run_id: str | None = None,
    scopes: Sequence[PageScope] | None = None,
) -> tuple[pl.DataFrame, Path]:
    """The cross-file checks of the current submissions, then the report: what a load, a
    review or a rollback changed shows on the pages at once. Returns the checks' results
    and the index page."""
    cross = run_cross_file_checks(con, run_id)
    return cross, build_report(con, reports_dir, scopes)


def refresh_report_for_run(
    con: duckdb.DuckDBPyConnection, reports_dir: Path, run_id: str
) -> tuple[pl.DataFrame, Path]:
    """refresh_report with only the pages a Dagster run changed: those of the slices it
    loaded (held and rejected files included) and those whose cross-file results changed
    with them. A run that loaded nothing (a rebuild, the report alone) rewrites every page.
    A resubmission then rewrites one district's page, not the ~450 pages and 3,000 error
    files of the state (about 50 s at state scale)."""
    before = _cross_file_outcomes(con)
    cross = run_cross_file_checks(con, run_id)
    loaded = con.execute(
        "select distinct district_code, school_year from raw.load_manifest where run_id = ? "
        "and district_code is not null and school_year is not null",
        [run_id],
    ).fetchall()
    if not loaded:
        return cross, build_report(con, reports_dir)
    changed = before ^ _cross_file_outcomes(con)
    moved = con.execute(
        "select distinct district_code, school_year from raw.load_manifest where "
        "list_contains(?, manifest_id) and district_code is not null and school_year is not null",
        [sorted({manifest_id for manifest_id, *_ in changed})],
    ).fetchall()
    scopes = [PageScope(year, district) for district, year in sorted({*loaded, *moved})]
    return cross, build_report(con, reports_dir, scopes)


def _cross_file_outcomes(con: duckdb.DuckDBPyConnection) -> set[tuple]:
    return set(
        con.execute(
            "select manifest_id, expectation, unexpected_count, element_count "
            "from audit.dq_results where suite = ?",
            [CROSS_FILE_SUITE],
        ).fetchall()
    )


def build_report(
    con: duckdb.DuckDBPyConnection,
    reports_dir: Path,
    scopes: Sequence[PageScope] | None = None,
) -> Path:
    """Write the PED data-quality report; return the index page. With ``scopes``, only the
    pages they cover (none for an empty list) and the index."""
    out = reports_dir / "dq"
    pages, unidentified = _pages(con)
    env = _environment()
    generated = datetime.now().strftime("%Y-%m-%d %H:%M")
    data_docs = reports_dir / "data_docs" / "index.html"
    for page in pages:
        if scopes is not None and not any(scope.covers(page) for scope in scopes):
            continue
        target = out / page.href
        target.parent.mkdir(parents=True, exist_ok=True)
        # Only the pages written show what their set-aside rows cost: three queries a page,
        # ~3 s for the state's 1,500 pages, which a resubmission's one page need not pay.
        page.impacts = impacts(
            con, [f["manifest_id"] for f in page.current], page.district, page.year
        )
        _write_error_files(con, page, target.parent / page.errors_dir)
        target.write_text(
            env.get_template("district.html.j2").render(
                page=page, generated=generated, review_words=REVIEW_WORDS
            ),
            encoding="utf-8",
        )
    index = out / "index.html"
    out.mkdir(parents=True, exist_ok=True)
    trail = history([a for a in _rows(con, _ACTIONS) if a["district_code"] is None])
    index.write_text(
        env.get_template("index.html.j2").render(
            pages=pages,
            trail=trail,
            unidentified=unidentified,
            generated=generated,
            review_words=REVIEW_WORDS,
            data_docs="../data_docs/index.html" if data_docs.exists() else None,
        ),
        encoding="utf-8",
    )
    return index
