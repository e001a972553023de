"""No delivery silently changes the current data (issue 16): files written the way Excel and
districts really send them are held with their reasons, the previous submission stays
current, a reviewer releases or rejects, and the report says so in red."""

from __future__ import annotations

import re
import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dagster_project.contracts import EXTRACTS, get_extract
from dagster_project.ingest.audit import reconcile
from dagster_project.ingest.hold import Counts, HoldRules, ReviewError, _volume_hold, review
from dagster_project.ingest.landing import file_name, landing_path, list_landed
from dagster_project.ingest.loader import Loader
from dagster_project.ingest.reasons import FileReason, HoldReason, Status
from dagster_project.quality.gate import blocking_failures
from dagster_project.quality.report import build_report
from dagster_project.sample_data import generate
from dagster_project.warehouse import ensure_schema

KEY = b"test-key"
DISTRICT, YEAR = "001", 2025


def excel_general(value: str | None) -> str | None:
    """A cell as Excel writes it back to CSV after reading it as General: numbers lose
    leading and trailing zeros (001 -> 1, 1.50 -> 1.5), ISO dates become M/D/YYYY."""
    if value is None:
        return None
    if re.fullmatch(r"-?\d+(\.\d+)?", value):
        return format(Decimal(value).normalize(), "f")
    date = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value)
    if date:
        year, month, day = date.groups()
        return f"{int(month)}/{int(day)}/{year}"
    return value


def excel_resave(path: Path) -> bytes:
    """The file opened in Excel and saved as "CSV UTF-8": a BOM, CRLF line ends."""
    frame = pl.read_csv(path, infer_schema=False)
    frame = frame.with_columns(
        pl.col(c).map_elements(excel_general, return_dtype=pl.String) for c in frame.columns
    )
    return b"\xef\xbb\xbf" + frame.write_csv(line_terminator="\r\n").encode("utf-8")


def slice_file(landing: Path, extract: str, district: str = DISTRICT, year: int = YEAR) -> Path:
    folder = landing_path(landing, get_extract(extract))
    return next(folder.glob(f"{extract}__{district}__{year}__*.csv"))


def land(landing: Path, extract: str, data: bytes, stamp: str) -> Path:
    path = landing_path(landing, get_extract(extract)) / file_name(
        extract, DISTRICT, YEAR, datetime.strptime(stamp, "%Y%m%dT%H%M%S")
    )
    path.write_bytes(data)
    return path


def current(con, extract: str) -> list[int]:
    return [
        r[0]
        for r in con.execute(
            "select manifest_id from raw.load_manifest where status = 'LOADED' and extract = ? "
            "and district_code = ? and school_year = ?",
            [extract, DISTRICT, YEAR],
        ).fetchall()
    ]


def page_text(reports: Path, district: str = DISTRICT, year: int = YEAR) -> str:
    html = (reports / "dq" / district / f"{year}.html").read_text(encoding="utf-8")
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&gt;", ">")


@pytest.fixture(scope="module")
def loaded_once(tmp_path_factory) -> Path:
    """Two clean tiny years, loaded once; each test works on its own copy."""
    root = tmp_path_factory.mktemp("guard")
    landing = root / "landing"
    generate("tiny", years=2, seed=7, landing_dir=landing, last_year=YEAR)
    with duckdb.connect(str(root / "cte.duckdb")) as con:
        ensure_schema(con)
        files = [p for e in EXTRACTS for p in list_landed(landing, e)]
        outcomes = Loader(con, landing, KEY).load(files)
    assert {o.status for o in outcomes} == {Status.LOADED}
    return root


@pytest.fixture
def warehouse(loaded_once: Path, tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, Path]:
    root = tmp_path / "copy"
    shutil.copytree(loaded_once, root)
    con = duckdb.connect(str(root / "cte.duckdb"))
    yield con, root / "landing"
    con.close()


def test_an_excel_resave_is_held_named_as_lost_zeros_and_the_previous_stays(warehouse, tmp_path):
    con, landing = warehouse
    extract = "student_enrollment"
    [before] = current(con, extract)
    rows_before = con.execute(f"select * from raw.{extract} order by all").fetchall()
    resaved = excel_resave(slice_file(landing, extract))
    assert (
        b"\r\n" in resaved and b"\n1,50," not in resaved and re.search(rb"\r\n\d+,[^,]*,", resaved)
    )
    [outcome] = Loader(con, landing, KEY).load([land(landing, extract, resaved, "20260301T100000")])

    assert outcome.status is Status.HELD
    assert outcome.reason_code is HoldReason.LOST_LEADING_ZEROS
    assert "district_code" in outcome.error_message and "1 -> 001" in outcome.error_message
    assert "format these columns as Text" in outcome.error_message
    assert "DISTRICT_MISMATCH" not in {
        r[0]
        for r in con.execute(
            "select reason_code from raw.quarantine where manifest_id = ?", [outcome.manifest_id]
        ).fetchall()
    }
    # Nothing current changed: the good submission is still the one the marts read.
    assert current(con, extract) == [before]
    current_rows = con.execute(
        f"select r.* from raw.{extract} r join raw.load_manifest m "
        "on m.manifest_id = r._manifest_id and m.status = 'LOADED' order by all"
    ).fetchall()
    assert current_rows == rows_before
    # The held rows are stored, padded back, ready for a release.
    padded = con.execute(
        f"select distinct district_code from raw.{extract} where _manifest_id = ?",
        [outcome.manifest_id],
    ).fetchall()
    assert padded == [("001",)]
    assert all(b.balanced for b in reconcile(con, [before, outcome.manifest_id]))
    # The district's page says it in red, not "No blocking problems".
    build_report(con, tmp_path / "reports")
    text = page_text(tmp_path / "reports")
    assert "Action needed" in text and "No blocking problems" not in text
    assert "Held files: not used until reviewed" in text and outcome.file_name in text
    assert "lost their leading zeros (e.g. 1 -> 001)" in text
    assert "files held" in (tmp_path / "reports" / "dq" / "index.html").read_text()


def test_a_file_mostly_set_aside_is_held_and_the_report_shows_values(warehouse, tmp_path):
    """35 % of the rows set aside (the issue's 35 % that showed green): a fifth for another
    district (structure), the rest with grade 14 (a blocking expectation)."""
    con, landing = warehouse
    extract = "student_enrollment"
    [before] = current(con, extract)
    frame = pl.read_csv(slice_file(landing, extract), infer_schema=False)
    row = pl.int_range(frame.height)
    frame = frame.with_columns(
        pl.when(row < int(0.20 * frame.height))
        .then(pl.lit("002"))
        .otherwise("district_code")
        .alias("district_code"),
        pl.when(row >= int(0.85 * frame.height))
        .then(pl.lit("14"))
        .otherwise("grade_level")
        .alias("grade_level"),
    )
    path = land(landing, extract, frame.write_csv().encode(), "20260302T100000")
    [outcome] = Loader(con, landing, KEY).load([path])
    assert outcome.status is Status.HELD and outcome.reason_code is HoldReason.SET_ASIDE_SHARE
    assert re.search(
        r"\d+ of \d+ rows \(3[45]\.\d%\) were set aside, more than 1%", outcome.error_message
    )
    assert current(con, extract) == [before]
    # A held file never stops the state's publish: the gate reads current files only.
    failed = con.execute(
        "select count(*) from audit.dq_results where manifest_id = ? and not success "
        "and severity = 'ERROR'",
        [outcome.manifest_id],
    ).fetchall()[0][0]
    assert failed and blocking_failures(con) == []
    build_report(con, tmp_path / "reports")
    html = (tmp_path / "reports" / "dq" / DISTRICT / f"{YEAR}.html").read_text()
    text = page_text(tmp_path / "reports")
    assert "(held file)" in text and "No blocking problems" not in text
    # Offending codes are shown (002, 14); student IDs and names never.
    assert re.search(
        r"district_code is 002 but the file is named for district 001[^<]*</td><td>002<", html
    )
    assert re.search(r"grade_level</td><td>[^<]*</td><td>14</td>", html)
    ids = set(frame["student_id"].to_list())
    names = set(frame["last_name"].to_list())
    assert not ids & set(re.findall(r"\b\d{9}\b", html))
    assert not any(f">{n}<" in html for n in names)


def test_a_volume_drop_is_held_then_released_by_a_reviewer(warehouse):
    con, landing = warehouse
    extract = "cte_course_enrollment"
    [before] = current(con, extract)
    source = slice_file(landing, extract)
    lines = source.read_bytes().splitlines(keepends=True)
    kept = lines[: 1 + (len(lines) - 1) * 3 // 10]  # 30 % of the rows, all of them clean
    [outcome] = Loader(con, landing, KEY).load(
        [land(landing, extract, b"".join(kept), "20260303T100000")]
    )
    assert outcome.status is Status.HELD and outcome.reason_code is HoldReason.VOLUME_DROP
    assert f"{len(kept) - 1:,} rows loaded against {len(lines) - 1:,}" in outcome.error_message
    assert outcome.rows_quarantined == 0 and current(con, extract) == [before]

    with pytest.raises(ReviewError):
        review(con, before, True, "A. Reviewer", "not held")  # only a HELD file is reviewed
    with pytest.raises(ReviewError):
        review(con, outcome.manifest_id, True, "A. Reviewer", " ")  # a note is required
    decision = review(con, outcome.manifest_id, True, "A. Reviewer", "district closed a school")
    assert decision.replaced == [before]
    assert current(con, extract) == [outcome.manifest_id]
    stored = con.execute(
        f"select _manifest_id, count(*) from raw.{extract} where district_code = ? and "
        "school_year = ? group by 1",
        [DISTRICT, YEAR],
    ).fetchall()
    assert stored == [(outcome.manifest_id, len(kept) - 1)]
    status, notes = con.execute(
        "select status, notes from raw.load_manifest where manifest_id = ?", [before]
    ).fetchall()[0]
    assert status == "SUPERSEDED" and f"superseded by manifest {outcome.manifest_id}" in notes
    audit = con.execute(
        "select manifest_id, decision, reviewer, note, replaced from audit.review_decisions"
    ).fetchall()
    assert audit == [
        (outcome.manifest_id, "RELEASE", "A. Reviewer", "district closed a school", str(before))
    ]


def test_a_rejected_hold_keeps_the_current_and_a_later_good_file_replaces_both(warehouse):
    con, landing = warehouse
    extract = "assessment_results"
    [before] = current(con, extract)
    source = slice_file(landing, extract)
    lines = source.read_bytes().splitlines(keepends=True)
    first = land(landing, extract, b"".join(lines[:20]), "20260304T100000")
    second = land(landing, extract, b"".join(lines[:25]), "20260304T110000")
    [held_1] = Loader(con, landing, KEY).load([first])
    [held_2] = Loader(con, landing, KEY).load([second])
    assert held_1.status is held_2.status is Status.HELD
    statuses = dict(
        con.execute(
            "select manifest_id, status from raw.load_manifest where manifest_id in (?, ?)",
            [held_1.manifest_id, held_2.manifest_id],
        ).fetchall()
    )
    # Only the newest held file waits for review.
    assert statuses == {held_1.manifest_id: "SUPERSEDED", held_2.manifest_id: "HELD"}
    review(con, held_2.manifest_id, False, "B. Reviewer", "incomplete export")
    row = con.execute(
        "select status, reason_code, error_message from raw.load_manifest where manifest_id = ?",
        [held_2.manifest_id],
    ).fetchall()[0]
    assert row[:2] == ("REJECTED", FileReason.REVIEW_REJECTED)
    assert "rejected by B. Reviewer" in row[2] and current(con, extract) == [before]
    left = con.execute(
        f"select count(*) from raw.{extract} where _manifest_id = ?", [held_2.manifest_id]
    ).fetchall()[0][0]
    assert left == 0
    # The district resends the whole file: fit, it becomes current.
    [good] = Loader(con, landing, KEY).load(
        [land(landing, extract, source.read_bytes().replace(b"\n", b"\r\n"), "20260305T100000")]
    )
    assert good.status is Status.LOADED and current(con, extract) == [good.manifest_id]
    assert con.execute("select count(*) from audit.review_decisions").fetchall()[0][0] == 1


def test_the_thresholds_come_from_settings(warehouse, monkeypatch):
    """CTE_HOLD_VOLUME_RATIO lowers the volume bar: a 30 % file becomes current."""
    from dagster_project.settings import get_settings

    con, landing = warehouse
    monkeypatch.setenv("CTE_HOLD_VOLUME_RATIO", "0.2")
    rules = HoldRules.from_settings(get_settings())
    assert rules == HoldRules(0.01, 0.2, 30)
    extract = "cte_course_enrollment"
    lines = slice_file(landing, extract).read_bytes().splitlines(keepends=True)
    kept = lines[: 1 + (len(lines) - 1) * 3 // 10]
    # Handed to the loader, as the raw asset hands it the settings' (assets/raw.py).
    [outcome] = Loader(con, landing, KEY, hold_rules=rules).load(
        [land(landing, extract, b"".join(kept), "20260306T100000")]
    )
    assert outcome.status is Status.LOADED and current(con, extract) == [outcome.manifest_id]


def test_cip_codes_that_lost_digits_are_named_with_the_excel_advice(warehouse):
    con, landing = warehouse
    extract = "credential_attainment"
    frame = pl.read_csv(slice_file(landing, extract), infer_schema=False)
    frame = frame.with_columns(pl.col("cip_code").str.slice(0, 5))  # 47.0604 -> 47.06
    path = land(landing, extract, frame.write_csv().encode(), "20260307T100000")
    [outcome] = Loader(con, landing, KEY).load([path])
    assert outcome.status is Status.HELD
    message, values = con.execute(
        "select min(message), list(distinct value) from raw.quarantine "
        "where manifest_id = ? and column_name = 'cip_code'",
        [outcome.manifest_id],
    ).fetchall()[0]
    assert "lost" in message and "Text" in message
    assert values and all(re.fullmatch(r"\d{2}\.\d{2}", v) for v in values)


def test_a_leading_zero_lost_from_a_student_id_is_never_padded(warehouse):
    con, landing = warehouse
    extract = "work_based_learning"
    frame = pl.read_csv(slice_file(landing, extract), infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.int_range(frame.height) == 0)
        .then(pl.lit("01234567"))
        .otherwise("student_id")
        .alias("student_id")
    )
    path = land(landing, extract, frame.write_csv().encode(), "20260308T100000")
    [outcome] = Loader(con, landing, KEY).load([path])
    assert "student_id: 1 value(s) are digits but shorter than 9" in outcome.error_message
    assert "01234567" not in outcome.error_message
    reasons = con.execute(
        "select reason_code from raw.quarantine where manifest_id = ?", [outcome.manifest_id]
    ).fetchall()
    assert reasons == [("INVALID_STUDENT_ID",)]


# -- labor market: each release kind its own slice, no silent fallback ----------------------


def _oews(landing: Path, year: int) -> pl.DataFrame:
    """Every area of the year: the generator's state, metro and nonmetro files together."""
    paths = sorted(landing_path(landing, get_extract("oews_wages")).glob(f"*__{year}__*"))
    assert len(paths) == 3, paths
    frames = [
        pl.read_excel(path, infer_schema_length=0)
        if path.suffix == ".xlsx"
        else pl.read_csv(path, infer_schema=False)
        for path in paths
    ]
    columns = get_extract("oews_wages").column_names
    return pl.concat([f.rename(str.lower).select(columns) for f in frames])


def _bls_workbook(landing: Path, kind: str, year: int, frame: pl.DataFrame, stamp: str) -> Path:
    """A workbook as BLS publishes it: upper-case headers on the first sheet."""
    when = datetime.strptime(stamp, "%Y%m%dT%H%M%S")
    path = landing_path(landing, get_extract("oews_wages")) / file_name(
        "oews_wages", kind, year, when, ".xlsx"
    )
    frame.rename(str.upper).write_excel(path, worksheet=f"{kind}_M{year}_dl")
    return path


def _current_kinds(con, year: int) -> dict[str, str]:
    return dict(
        con.execute(
            "select district_code, file_name from raw.load_manifest where status = 'LOADED' "
            "and extract = 'oews_wages' and school_year = ?",
            [year],
        ).fetchall()
    )


def test_state_and_metro_workbooks_of_one_year_coexist_and_the_marts_read_both(warehouse):
    con, landing = warehouse
    year = YEAR
    wages = _oews(landing, year)
    state_rows = wages.filter(pl.col("area_type") == "2")
    metro_rows = wages.filter(pl.col("area_type") == "4")
    # The state resends its workbook with the state's rows only (as BLS's state file is);
    # far fewer rows than before, so a reviewer's bar is lowered for this test.
    rules = HoldRules(volume_ratio=0.0)
    [state] = Loader(con, landing, KEY, hold_rules=rules).load(
        [_bls_workbook(landing, "state", year, state_rows, "20260401T000000")]
    )
    [metro] = Loader(con, landing, KEY, hold_rules=rules).load(
        [_bls_workbook(landing, "metro", year, metro_rows, "20260402T000000")]
    )
    assert state.status is metro.status is Status.LOADED, metro.error_message
    kinds = _current_kinds(con, year)
    assert (kinds["state"], kinds["metro"]) == (state.file_name, metro.file_name)
    assert kinds["nonmetro"].startswith("oews_wages__nonmetro__")  # untouched, still current
    areas = con.execute(
        "select area_type, count(*) from raw.oews_wages r join raw.load_manifest m "
        "on m.manifest_id = r._manifest_id and m.status = 'LOADED' where m.school_year = ? "
        "group by 1 order by 1",
        [year],
    ).fetchall()
    nonmetro = wages.filter(pl.col("area_type") == "6").height
    assert areas == [("2", state_rows.height), ("4", metro_rows.height), ("6", nonmetro)]
    # Both reach the marts: the state's wages, and the regional wages of the metro areas of
    # seed labor_market_areas. A metro workbook of areas outside New Mexico reaches none.
    from dagster_project.quality.cross_file import cross_file_results

    elsewhere = metro_rows.filter(pl.col("area") == "10740").with_columns(
        area=pl.lit("21340"), area_title=pl.lit("El Paso, TX")
    )
    [other] = Loader(con, landing, KEY, hold_rules=rules).load(
        [_bls_workbook(landing, "metro", year - 1, elsewhere, "20260403T000000")]
    )
    assert other.status is Status.LOADED, other.error_message
    results = cross_file_results(con).filter(pl.col("expectation").str.starts_with("labor_"))
    reach = {
        r["manifest_id"]: r
        for r in results.iter_rows(named=True)
        if r["expectation"] == "labor_market_rows_reach_marts"
    }
    assert reach[state.manifest_id]["success"] and reach[metro.manifest_id]["success"]
    assert not reach[other.manifest_id]["success"]
    assert "none of its" in reach[other.manifest_id]["description"]
    assert "labor_market_areas" in reach[other.manifest_id]["description"]


def test_a_metro_workbook_named_as_the_state_one_is_held(warehouse):
    con, landing = warehouse
    before = _current_kinds(con, YEAR)
    metro_rows = _oews(landing, YEAR).filter(pl.col("area_type") == "4")
    [outcome] = Loader(con, landing, KEY).load(
        [_bls_workbook(landing, "state", YEAR, metro_rows, "20260403T000000")]
    )
    assert outcome.status is Status.HELD
    assert "no row is for the state (area 35" in outcome.error_message
    assert _current_kinds(con, YEAR) == before


def test_projections_with_the_area_name_instead_of_its_code_are_held(warehouse):
    con, landing = warehouse
    extract = "occupational_projections"
    # The contract layout (the sample's latest year is a Projections Central workbook).
    frame = pl.read_csv(slice_file(landing, extract, "state", YEAR - 1), infer_schema=False)
    frame = frame.with_columns(pl.lit("New Mexico").alias("area"))
    path = landing_path(landing, get_extract(extract)) / file_name(
        extract, "state", YEAR - 1, datetime(2026, 4, 4)
    )
    path.write_bytes(frame.write_csv().encode())
    [outcome] = Loader(con, landing, KEY).load([path])
    assert outcome.status is Status.HELD and outcome.reason_code is HoldReason.AREA_KIND
    assert (
        "found New Mexico" in outcome.error_message
        and "code, not the name" in outcome.error_message
    )


def test_a_year_that_would_fall_back_to_an_older_release_is_reported(loaded_once, tmp_path):
    """Only a metro workbook arrived for 2025: school year 2025 would use the 2024 state
    release. Loaded, but reported on the file (and no row of it reaches a mart)."""
    from dagster_project.quality.cross_file import cross_file_results

    landing = loaded_once / "landing"
    con = duckdb.connect(str(tmp_path / "cte.duckdb"))
    ensure_schema(con)
    enrollment = list_landed(landing, get_extract("student_enrollment"))
    state_2024 = [
        p for p in list_landed(landing, get_extract("oews_wages")) if "__2024__" in p.name
    ]
    Loader(con, landing, KEY).load(enrollment + state_2024)
    metro_rows = _oews(landing, YEAR).filter(pl.col("area_type") == "4")
    scratch = tmp_path / "landing"
    shutil.copytree(landing, scratch)
    [metro] = Loader(con, scratch, KEY).load(
        [_bls_workbook(scratch, "metro", YEAR, metro_rows, "20260405T000000")]
    )
    assert metro.status is Status.LOADED
    results = {
        r["expectation"]: r
        for r in cross_file_results(con).iter_rows(named=True)
        if r["manifest_id"] == metro.manifest_id
    }
    fallback = results["labor_market_no_older_release"]
    assert not fallback["success"]
    assert fallback["description"].startswith(f"School year {YEAR} use(s) an older oews_wages")
    assert not results["labor_market_rows_reach_marts"]["success"]
    con.close()


@pytest.mark.parametrize(
    ("year", "rows", "held"),
    [
        (YEAR, 45, True),  # a resubmission of the same year at 45%
        (YEAR + 1, 45, False),  # next year's cohort at 45% of this one: it happens
        (YEAR + 1, 20, True),  # ... but not at 20%
    ],
)
def test_a_volume_drop_against_last_year_has_half_the_bar(year: int, rows: int, held: bool):
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute(
        "create table raw.load_manifest as select 'prior.csv' as file_name, ? as school_year, "
        "100 as rows_loaded, 'LOADED' as status, 'assessment_results' as extract, "
        "? as district_code, now() as submitted_at",
        [YEAR, DISTRICT],
    )
    hold = _volume_hold(
        con, ("assessment_results", DISTRICT, year), Counts(rows, rows, 0), HoldRules()
    )
    assert (hold is not None and hold.reason is HoldReason.VOLUME_DROP) is held
