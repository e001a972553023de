"""The PED data-quality report: content, privacy, offline rendering in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from test_quality import (
    NAME,
    RAW_ID,
    SEEDS,
    YEAR,
    _insert,
    _manifest,
    clean_frame,
    validate,
    with_values,
)

from dagster_project.contracts import EXTRACTS_BY_NAME
from dagster_project.quality.cross_file import run_cross_file_checks
from dagster_project.quality.data_docs import publish_data_docs
from dagster_project.quality.gate import record_results
from dagster_project.quality.report import (
    Page,
    build_report,
    refresh_report,
    refresh_report_for_run,
)
from dagster_project.quality.suites import CodeSets, read_code_sets
from dagster_project.settings import REPO_ROOT
from dagster_project.warehouse import ensure_schema

ARTIFACTS = REPO_ROOT / "warehouse" / "test-artifacts"


def _quarantine(con, manifest_id: int, frame: pl.DataFrame) -> None:
    """What the loader writes, with a planted personal value in the value column and each
    row's student pseudonym (the impact lines count them; a page must never show one)."""
    con.execute(
        "insert into raw.quarantined_students select distinct ?, source_row, "
        "sha256(source_row::varchar) from (select unnest(?) as source_row)",
        [manifest_id, frame["_source_row"].to_list()],
    )
    for row in frame.iter_rows(named=True):
        con.execute(
            "insert into raw.quarantine values (?, ?, ?, ?, ?, ?)",
            [
                manifest_id,
                row["_source_row"],
                row["column_name"],
                row["reason_code"],
                row["message"],
                f"{NAME} {RAW_ID}",
            ],
        )


@pytest.fixture
def code_sets(tmp_path: Path) -> CodeSets:
    for name, text in SEEDS.items():
        (tmp_path / name).write_text(text)
    return read_code_sets(tmp_path)


@pytest.fixture
def reports(tmp_path: Path, code_sets: CodeSets) -> Path:
    """A warehouse with two years for district 001, a state file and an unreadable name."""
    con = duckdb.connect(str(tmp_path / "cte.duckdb"))
    ensure_schema(con)
    con.execute(
        "create schema reference; create table reference.schools as "
        "select '001' as district_code, '010' as location_code, 'Alpha' as district_name"
    )
    enrollment = EXTRACTS_BY_NAME["student_enrollment"]
    # Last year: clean files.
    _manifest(con, 1, "student_enrollment", "001", YEAR - 1, 180)
    _manifest(con, 2, "cte_course_enrollment", "001", YEAR - 1, 150)
    # This year: enrollment with bad rows (validated), courses for unknown students,
    # a rejected file, a replaced submission, a state-level file and a badly named file.
    frame = clean_frame(enrollment, manifest_id=3)
    for row in range(4):
        frame = with_values(frame, row, {"sex": "Q"})
    frame = with_values(frame, 10, {"grade_level": "14"})
    result = validate("student_enrollment", frame, code_sets)
    _manifest(con, 3, "student_enrollment", "001", YEAR, frame.height)
    con.execute(
        "update raw.load_manifest set rows_loaded = ?, rows_quarantined = ? where manifest_id = 3",
        [frame.height - 5, 5],
    )
    _quarantine(con, 3, result.quarantine)
    record_results(con, result.results, "run-1")
    _insert(con, "student_enrollment", frame.filter(pl.col("_source_row") > 20))
    courses = clean_frame(EXTRACTS_BY_NAME["cte_course_enrollment"], manifest_id=5)
    _manifest(con, 5, "cte_course_enrollment", "001", YEAR, courses.height)
    _insert(con, "cte_course_enrollment", courses)
    _manifest(
        con,
        4,
        "cte_course_enrollment",
        "001",
        YEAR,
        0,
        status="SUPERSEDED",
        submitted=f"{YEAR}-06-01 09:00:00",
    )
    _manifest(con, 6, "work_based_learning", "001", YEAR, None, status="REJECTED")
    con.execute(
        "update raw.load_manifest set reason_code = 'MISSING_COLUMNS', error_message = "
        "'required column wbl_type is missing' where manifest_id = 6"
    )
    _manifest(con, 7, "oews_wages", "state", YEAR, 300)
    con.execute(
        "insert into raw.load_manifest (manifest_id, path, file_name, sha256, status, "
        "reason_code, error_message, loaded_at) values (8, 'x', 'enrollment final.csv', 's8', "
        "'REJECTED', 'BAD_FILE_NAME', 'the name does not follow the convention', now())"
    )
    run_cross_file_checks(con, "run-1")
    out = tmp_path / "reports"
    publish_data_docs([result], out)
    build_report(con, out)
    con.close()
    return out


def test_report_pages_and_content(reports: Path):
    index = reports / "dq" / "index.html"
    page = reports / "dq" / "001" / f"{YEAR}.html"
    assert index.exists() and page.exists()
    assert (reports / "dq" / "001" / f"{YEAR - 1}.html").exists()
    assert (reports / "dq" / "state" / f"{YEAR}.html").exists()

    html = page.read_text(encoding="utf-8")
    assert "Alpha (001)" in html  # district name from the seed list
    assert "Sex must be F, M or X." in html and "Grade level must be two digits" in html
    assert "Action needed" in html and "Blocking" in html  # 4 of 200 sex codes: 2 % > 1 %
    assert "required column wbl_type is missing" in html and "Rejected: not loaded" in html
    assert "Replaced by a later file" in html
    assert "Course records for students who are not in this district" in html
    assert "assessment_results" in html  # reported as not received yet
    # What the errors cost: 5 rows set aside, of 5 students; no marts built here.
    assert "5 student_enrollment rows set aside</b>: 5 students of this" in html
    assert "1S1-1S2, 2S1-2S3, 3S1, 4S1, 5S1-5S3, the simulated allocation" in html
    assert "The marts are not built yet" in html
    assert html.count("<svg") == 2 and "last year" in html
    bars = re.findall(r'<rect class="bar series(\d)"[^>]*height="([\d.]+)"', html)
    assert {s for s, h in bars if float(h) > 0} == {"0", "1"}  # both years drawn

    index_html = index.read_text(encoding="utf-8")
    assert f"001/{YEAR}.html" in index_html and "../data_docs/index.html" in index_html
    assert "enrollment final.csv" in index_html


def test_report_holds_no_personal_value_and_no_url(reports: Path):
    for path in (reports / "dq").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert RAW_ID not in text and NAME not in text, path
        assert not re.search(r"https?://", text), path
        assert not re.search(r"[0-9a-f]{64}", text), path  # no pseudonymized student ID


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            shutil.which("chromium") or "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            f"--user-data-dir={profile}",
            # Belt and braces: any name lookup fails, so nothing can leave the machine.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_report_renders_offline_in_chromium(reports: Path, tmp_path: Path):
    page = (reports / "dq" / "001" / f"{YEAR}.html").as_uri()
    dom = _chromium("--dump-dom", page, profile=tmp_path / "p1").stdout
    assert "Files received" in dom and len(re.findall(r"<rect ", dom)) >= 4

    shot, netlog = tmp_path / "dq_report.png", tmp_path / "net.json"
    _chromium(
        f"--screenshot={shot}",
        "--window-size=1100,2200",
        f"--log-net-log={netlog}",
        page,
        profile=tmp_path / "p2",
    )
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "dq_report.png")

    # Chromium's own services (updates, accounts) show up with no origin and fail to
    # resolve; anything the page itself asked for over the network would carry one.
    log = json.loads(netlog.read_text())
    starts = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    from_page = [
        e["params"]["url"]
        for e in log["events"]
        if e["type"] == starts
        and "url" in e.get("params", {})
        and e["params"].get("initiator") != "not an origin"
    ]
    assert from_page == []


def test_a_command_rewrites_only_its_own_pages_and_the_index(reports: Path, tmp_path: Path):
    """A reload of one district-year rewrites that page (and the index), not every page:
    writing them all takes about 70 s at state scale."""
    from dagster_project.quality.report import PageScope

    dq = reports / "dq"
    this_year, last_year = dq / "001" / f"{YEAR}.html", dq / "001" / f"{YEAR - 1}.html"
    for page in (this_year, last_year, dq / "index.html"):
        page.write_text("stale", encoding="utf-8")
    with duckdb.connect(str(reports.parent / "cte.duckdb")) as con:
        refresh_report(con, reports, scopes=[PageScope(YEAR, "001")])
    assert "Files received" in this_year.read_text(encoding="utf-8")
    assert last_year.read_text(encoding="utf-8") == "stale"
    assert "001/" in (dq / "index.html").read_text(encoding="utf-8")
    # A state file's release kind (metro, nonmetro) is on the state's page.
    state_page = Page("state", None, YEAR)
    assert PageScope(YEAR, "metro").covers(state_page) and not PageScope(YEAR - 1).covers(
        state_page
    )


def test_a_run_rewrites_the_pages_of_what_it_loaded(reports: Path):
    """The dq_report asset after a resubmission: the slices its run loaded, not every page;
    a run that loaded nothing rewrites them all."""
    dq = reports / "dq"
    this_year, last_year = dq / "001" / f"{YEAR}.html", dq / "001" / f"{YEAR - 1}.html"
    state = dq / "state" / f"{YEAR}.html"
    for page in (this_year, last_year, state):
        assert page.exists(), page
        page.write_text("stale", encoding="utf-8")
    with duckdb.connect(str(reports.parent / "cte.duckdb")) as con:
        con.execute("update raw.load_manifest set run_id = 'resubmission' where manifest_id = 5")
        refresh_report_for_run(con, reports, "resubmission")
        assert "Files received" in this_year.read_text(encoding="utf-8")
        assert last_year.read_text(encoding="utf-8") == state.read_text(encoding="utf-8")
        assert state.read_text(encoding="utf-8") == "stale"
        refresh_report_for_run(con, reports, "a rebuild")
    assert "Files received" in last_year.read_text(encoding="utf-8")
    assert "Files received" in state.read_text(encoding="utf-8")


def test_report_on_an_empty_warehouse(tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "cte.duckdb"))
    ensure_schema(con)
    index = build_report(con, tmp_path / "reports")
    con.close()
    assert "No submissions yet." in index.read_text(encoding="utf-8")
    assert date.today().isoformat() in index.read_text(encoding="utf-8")


# --- PED's review of a district-year (issue 22) ------------------------------------------


@pytest.fixture
def reviewed_home(reports: Path, cte_home, monkeypatch: pytest.MonkeyPatch):
    """The report fixture's warehouse as a project home's, for `cte review`."""
    cte_home.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(reports.parent / "cte.duckdb", cte_home.warehouse_path)
    monkeypatch.chdir(cte_home.home)  # main() moves to the repository; undone afterwards
    return cte_home


def _review(*args: str) -> None:
    from dagster_project.cli import main

    main(["review", *args])


def test_a_certified_district_year_shows_on_the_index_and_its_page(reviewed_home, capsys):
    _review("verify", "001", str(YEAR - 1), "--by", "P. Reviewer", "--note", "counts match SIS")
    _review("certify", "001", str(YEAR - 1), "--by", "J. Ortiz", "--note", "for the CAR")
    assert "certify recorded for district 001" in capsys.readouterr().out
    dq = reviewed_home.reports_dir / "dq"
    index = dq.joinpath("index.html").read_text(encoding="utf-8")
    last_year = re.search(rf'<tr data-status="(\w+)">\s*<td><a href="001/{YEAR - 1}.html"', index)
    this_year = re.search(rf'<tr data-status="(\w+)">\s*<td><a href="001/{YEAR}.html"', index)
    assert last_year and last_year.group(1) == "CERTIFIED"
    assert this_year and this_year.group(1) == "NEEDS_ACTION"  # a rejected file, a blocking check
    assert 'id="status-filter"' in index
    page = dq.joinpath("001", f"{YEAR - 1}.html").read_text(encoding="utf-8")
    assert 'PED review: <b class="review CERTIFIED">Certified</b>' in page
    history = page[page.index("History: reloads and reviews") :]
    assert history.index("counts match SIS") < history.index("for the CAR")
    with duckdb.connect(str(reviewed_home.warehouse_path), read_only=True) as con:
        steps = con.execute(
            "select district_code, school_year, step, reviewer from audit.district_year_reviews"
        ).fetchall()
        trail = con.execute("select action, actor, district_code from audit.actions").fetchall()
    assert steps == [
        ("001", YEAR - 1, "VERIFY", "P. Reviewer"),
        ("001", YEAR - 1, "CERTIFY", "J. Ortiz"),
    ]
    # One audit trail: the steps are audit.actions rows, district_year_reviews a view on it.
    assert trail == [("VERIFY", "P. Reviewer", "001"), ("CERTIFY", "J. Ortiz", "001")]


def test_a_district_year_that_needs_action_or_was_never_received_is_not_certified(
    reviewed_home,
):
    with pytest.raises(SystemExit) as refused:
        _review("certify", "001", str(YEAR), "--by", "J. Ortiz", "--note", "looks fine")
    assert "needs action first" in str(refused.value.code)
    with pytest.raises(SystemExit) as unknown:
        _review("certify", "099", str(YEAR), "--by", "J. Ortiz", "--note", "looks fine")
    assert "nothing was received from district 099" in str(unknown.value.code)
    with pytest.raises(SystemExit) as unnamed:
        _review("certify", "001", str(YEAR - 1))
    assert "--by NAME" in str(unnamed.value.code)
    with duckdb.connect(str(reviewed_home.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from audit.district_year_reviews").fetchall() == [(0,)]


def test_a_later_submission_needs_a_new_review_and_a_replaced_rejection_no_action():
    from datetime import datetime, timedelta

    from dagster_project.quality.certification import (
        Decision,
        DistrictYearStatus,
        ReviewStep,
        status,
    )
    from dagster_project.quality.report import Page

    at = datetime(2026, 3, 1, 9)
    verified = Decision(ReviewStep.VERIFY, "P. Reviewer", "real drop", at)
    certified = Decision(ReviewStep.CERTIFY, "J. Ortiz", "for the CAR", at + timedelta(days=1))
    # Files before both steps: certified. A file between them: only the later step stands.
    before, between = at - timedelta(hours=1), at + timedelta(hours=1)
    assert status(False, before, [verified, certified]) is DistrictYearStatus.CERTIFIED
    assert status(False, between, [certified, verified]) is DistrictYearStatus.CERTIFIED
    assert status(False, between, [verified]) is DistrictYearStatus.RECEIVED
    assert status(False, at + timedelta(days=2), [verified, certified]) is (
        DistrictYearStatus.RECEIVED
    )
    assert status(True, at - timedelta(hours=1), [certified]) is DistrictYearStatus.NEEDS_ACTION

    def file(status_: str, loaded: datetime) -> dict:
        return {"extract": "work_based_learning", "status": status_, "loaded_at": loaded}

    rejected, replacement = file("REJECTED", at), file("LOADED", at + timedelta(hours=2))
    assert Page("001", None, YEAR, [rejected]).rejected == [rejected]
    assert Page("001", None, YEAR, [rejected, replacement]).rejected == []


def test_the_review_tables_of_an_older_warehouse_move_into_the_audit_trail():
    """Decision 0023: the rows of audit.review_decisions and audit.district_year_reviews
    (tables before it) move to audit.actions; the names become views reading the same."""
    con = duckdb.connect()
    con.execute(
        "create schema audit; create schema raw; "
        "create table audit.review_decisions (manifest_id bigint, decision varchar, "
        "reviewer varchar, note varchar, replaced varchar, decided_at timestamp); "
        "create table audit.district_year_reviews (district_code varchar, school_year bigint, "
        "step varchar, reviewer varchar, note varchar, decided_at timestamp); "
        "insert into audit.review_decisions values "
        "(7, 'RELEASE', 'J. Ortiz', 'real drop', '3', '2026-03-01 09:00'); "
        "insert into audit.district_year_reviews values "
        "('001', 2025, 'VERIFY', 'P. Reviewer', 'counts match', '2026-03-02 09:00')"
    )
    before = [
        con.execute(f"select * from audit.{t}").fetchall()
        for t in ("review_decisions", "district_year_reviews")
    ]
    ensure_schema(con)
    ensure_schema(con)  # again: nothing moves twice
    after = [
        con.execute(f"select * from audit.{t}").fetchall()
        for t in ("review_decisions", "district_year_reviews")
    ]
    assert after == before
    assert con.execute("select action, actor from audit.actions order by acted_at").fetchall() == [
        ("RELEASE", "J. Ortiz"),
        ("VERIFY", "P. Reviewer"),
    ]
