"""Files as their publishers release them (issue 17): each is written here the way its
publisher writes it (workbooks by xlsxwriter with the real headers, title rows, footnote
marks, notes below the table, SOC codes Excel turned into dates, N/A), loaded through the
same manifest, quarantine and quality gate as every extract, and checked in a mart."""

from __future__ import annotations

import csv
import io
import os
import subprocess
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
import xlsxwriter
from test_nsc_returns import NSC_HEADER

from dagster_project.contracts import EXTRACTS, get_extract
from dagster_project.ingest.landing import file_name, landing_path, list_landed, parse_file_name
from dagster_project.ingest.loader import Loader
from dagster_project.ingest.reader import FileRejected, read_landed_file
from dagster_project.ingest.reasons import FileReason, Status
from dagster_project.ingest.rows import Pseudonymizer
from dagster_project.sample_data import generate
from dagster_project.settings import REPO_ROOT
from dagster_project.warehouse import ensure_schema

KEY = b"test-key"
YEAR = 2025
DBT = REPO_ROOT / ".venv" / "bin" / "dbt"

SOURCE = "Source: Employment Projections program, U.S. Bureau of Labor Statistics"
PROJECTIONS_CENTRAL = [
    "State FIPS",
    "Area Name",
    "Occupation Code",
    "Occupation Name",
    "Base Year",
    "Base",
    "Projected Year",
    "Projection",
    "Change",
    "Percent Change",
    "Average Annual Openings",
]
STARS = [
    "DISTRICT CODE",
    "SCHOOL YEAR DATE",
    "STUDENT ID",
    "LOCATION CODE",
    "CIP CODE",
    "DELIVERY METHOD CODE",
    "INDUSTRY CREDENTIAL CODE",
    "CREDENTIAL EARNED DATE",
]
STARS_NAME = "001_CTE_INDUSTRY_CREDENTIAL_202507071201.csv"
REST = [
    "Area",
    "Title",
    "Base",
    "Projected",
    "Change",
    "PercentChange",
    "AvgAnnualOpenings",
    "STFIPS",
    "StateURL",
    "OccCode",
    "BaseYear",
    "ProjYear",
]


def _path(landing: Path, extract: str, kind: str, year: int, stamp: str, ext: str) -> Path:
    folder = landing_path(landing, get_extract(extract))
    folder.mkdir(parents=True, exist_ok=True)
    when = datetime.strptime(stamp, "%Y%m%dT%H%M%S")
    return folder / file_name(extract, kind, year, when, ext)


def _soc_cell(sheet, row: int, col: int, code: str, date_format) -> None:
    """As a workbook saved from Excel holds the code: 11-9013 is November 9013."""
    month, rest = code.split("-")
    if 1 <= int(month) <= 12 and int(rest) >= 1900:
        sheet.write_datetime(row, col, datetime(int(rest), int(month), 1), date_format)
    else:
        sheet.write_string(row, col, code)


def write_projections_central(path: Path, rows: list[dict]) -> None:
    workbook = xlsxwriter.Workbook(str(path))
    month_year = workbook.add_format({"num_format": "mmm-yy"})
    sheet = workbook.add_worksheet("Long Term")
    sheet.write_row(0, 0, PROJECTIONS_CENTRAL)
    for i, r in enumerate(rows, start=1):
        base, proj = r["base"], r["proj"]
        change = proj - base if isinstance(base, int) and isinstance(proj, int) else "N/A"
        tail = [r["openings"]]
        sheet.write_row(
            i,
            0,
            [35, "New Mexico", None, r["title"], 2025, base, 2035, proj, change, "N/A", *tail],
        )
        _soc_cell(sheet, i, 2, r["code"], month_year)
    workbook.close()


def write_education_table(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """BLS EP Table 5.4: a title, a blank row, the header with the matrix year and footnote
    marks, the table, then footnotes and the source line."""
    workbook = xlsxwriter.Workbook(str(path))
    month_year = workbook.add_format({"num_format": "mmm-yy"})
    sheet = workbook.add_worksheet("Table 5.4")
    sheet.write(0, 0, "Table 5.4 Education and training assignments by detailed occupation, 2024")
    sheet.write_row(
        2,
        0,
        [
            "2024 National Employment Matrix title",
            "2024 National Employment Matrix code",
            "Typical education needed for entry(1)",
            "Work experience in a related occupation(2)",
            "Typical on-the-job training needed to attain competency in the occupation(3)",
        ],
    )
    for i, (code, title, education) in enumerate(rows, start=3):
        sheet.write_row(i, 0, [title, None, education, "None", "\u2014"])
        _soc_cell(sheet, i, 1, code, month_year)
    end = 3 + len(rows)
    sheet.write(end + 1, 0, "Footnotes:")
    sheet.write(end + 2, 0, "(1) Typical level of education needed to enter the occupation.")
    sheet.write(
        end + 4, 0, "Source: Employment Projections program, U.S. Bureau of Labor Statistics"
    )
    workbook.close()


def write_stars_template(landing: Path) -> None:
    """District 001's 2025 credentials as its STARS CTE Student Industry Credential file,
    under the template's own name: CIP CODE a number (01.1105 as 1.1105), SCHOOL YEAR DATE
    the last day of the year, and a PEST license, a code PED's list dropped after 2023."""
    folder = landing_path(landing, get_extract("credential_attainment"))
    [shaped] = folder.glob("credential_attainment__001__2025__*.csv")
    frame = pl.read_csv(shaped, infer_schema=False)
    lines = [",".join(STARS)]
    for r in frame.iter_rows(named=True):
        cip = r["cip_code"].replace(".", "")  # the number 470604
        earned = r["earned_date"]
        lines.append(
            f"001,2025-06-30,{r['student_id']},{r['location_code']},{cip},"
            f"{r['delivery_method']},{r['credential_code']},{earned}"
        )
    first = frame.row(0, named=True)
    lines.append(
        f"001,2025-06-30,{first['student_id']},{first['location_code']},1.1105,IS,PEST,03/13/2025"
    )
    (folder / STARS_NAME).write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")


NSC_TYPES = {"2YR": "2", "4YR": "4", "TECH": "L"}
CNM = ("004742-00", "CENTRAL NEW MEXICO COMMUNITY COLLEGE", "NM", "2", "Public")


def _nsc_line(sid: str, college: tuple | None = None, begin: str = "", degree: str = "") -> str:
    """One row of a StudentTracker detail return (names are the sender's, never loaded)."""
    row = dict.fromkeys(NSC_HEADER.split(","), "")
    row |= {"First Name": "JOSÉ", "Last Name": "NÚÑEZ, DE LA O", "Requester Return Field": sid}
    row |= {"Your Unique Identifier": f"R{sid}", "Search Date": "20240601"}
    row["Record Found Y/N"] = "Y" if college else "N"
    if college:
        keys = ("College Code/Branch", "College Name", "College State", "2-year / 4-year")
        row |= dict(zip((*keys, "Public / Private"), college, strict=True))
        row |= {"Enrollment Begin": begin, "Graduated?": "Y" if degree else "N"}
        row |= {"Graduation Date": degree, "Degree Title": "CERTIFICATE" if degree else ""}
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row.values())
    return out.getvalue()


def write_nsc_return(landing: Path) -> tuple[list[tuple], str, str]:
    """The 2024 postsecondary file as the Clearinghouse returns it, under the same name: a
    row per college enrollment (apprenticeships are not the Clearinghouse's), a not-found
    row for each other 2024 graduate. Two graduates with no enrollment at all get one: X a
    fall term in the placement quarter, Y a dual-credit term before exit only (and the
    certificate it led to, a degree row). Returns the contract rows expected and X's and Y's IDs."""
    folder = landing_path(landing, get_extract("postsecondary_enrollment"))
    [shaped] = folder.glob("postsecondary_enrollment__state__2024__*.csv")
    enrolled = {  # in any file, pre-shaped or the 2025 return the generator writes
        sid
        for path in folder.glob("*.csv")
        for column in ("student_id", "Requester Return Field")
        for sid in pl.read_csv(path, infer_schema=False).get_column(column, default=[])
    }
    rows = pl.read_csv(shaped, infer_schema=False).filter(
        pl.col("institution_type") != "APPRENTICESHIP"
    )
    folder = landing_path(landing, get_extract("student_enrollment"))
    students = pl.concat(
        [pl.read_csv(p, infer_schema=False) for p in folder.glob("*__2024__*.csv")]
    )
    graduates = sorted(set(students.filter(pl.col("exit_code") == "GRADUATED")["student_id"]))
    x, y = [g for g in graduates if g not in enrolled][:2]
    lines = [NSC_HEADER]
    for r in rows.iter_rows(named=True):
        state = "NM" if r["in_state"] == "Y" else "AZ"
        college = (r["institution_id"], "A COLLEGE", state, NSC_TYPES[r["institution_type"]])
        begin = r["term_start"].replace("-", "")
        lines.append(_nsc_line(r["student_id"], (*college, "Public"), begin))
    lines += [_nsc_line(x, CNM, "20240826"), _nsc_line(y, CNM, "20240108")]
    lines.append(_nsc_line(y, CNM, degree="20240510"))
    lines += [_nsc_line(g) for g in graduates if g not in set(rows["student_id"]) | {x, y}]
    shaped.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    expected = [tuple(r) for r in rows.rows()]
    expected += [
        (x, "2024-08-26", "004742-00", "2YR", "Y"),
        (y, "2024-01-08", "004742-00", "2YR", "Y"),
    ]
    return expected, x, y


@pytest.fixture(scope="module")
def landed(tmp_path_factory) -> tuple[Path, dict]:
    """Two tiny years; the 2025 projections and education table replaced by ours."""
    root = tmp_path_factory.mktemp("layouts")
    landing = root / "landing"
    generate("tiny", years=2, seed=7, landing_dir=landing, last_year=YEAR)
    for extract in ("occupational_projections", "education_assignments"):
        for path in list_landed(landing, get_extract(extract)):
            if f"__{YEAR}__" in path.name:
                path.unlink()
    [before] = [
        p for p in list_landed(landing, get_extract("occupational_projections")) if "2024" in p.name
    ]
    shaped = pl.read_csv(before, infer_schema=False)
    rows = [
        {
            "code": r["soc_code"],
            "title": r["occ_title"],
            "base": int(r["base_emp"]),
            "proj": int(r["proj_emp"]),
            "openings": 777 if r["soc_code"] == "15-1252" else int(r["annual_openings"]),
        }
        for r in shaped.iter_rows(named=True)
    ]
    # A broad occupation beside its detailed ones, its openings not published.
    rows.append(
        {"code": "15-1250", "title": "Software and Web Developers", "base": 5000}
        | {"proj": 5800, "openings": "N/A"}
    )
    write_projections_central(
        _path(landing, "occupational_projections", "state", YEAR, "20251001T090000", ".xlsx"),
        rows,
    )
    education = [
        (r["soc_code"], r["occ_title"], r["typical_education"])
        for r in shaped.iter_rows(named=True)
        if r["soc_code"] != "00-0000"
    ]
    # The BLS table, not the projections file, decides: Software Developers here need an
    # associate's degree (the 2024 projections file says bachelor's).
    education = [(c, t, "Associate's degree" if c == "15-1252" else e) for c, t, e in education]
    write_education_table(
        _path(landing, "education_assignments", "national", 2024, "20250905T090000", ".xlsx"),
        education,
    )
    write_stars_template(landing)
    nsc = write_nsc_return(landing)
    with duckdb.connect(str(root / "cte.duckdb")) as con:
        ensure_schema(con)
        files = [p for e in EXTRACTS for p in list_landed(landing, e)]
        outcomes = Loader(con, landing, KEY).load(files)
    mine = {o.extract: o for o in outcomes if o.file_name.endswith("T090000.xlsx")}
    mine |= {o.extract: o for o in outcomes if o.file_name == STARS_NAME}
    mine |= {
        o.extract: o
        for o in outcomes
        if o.file_name.startswith("postsecondary_enrollment__state__2024__")
    }
    return root, mine | {"nsc": nsc}


def _dbt(root: Path, *args: str) -> None:
    env = os.environ | {"CTE_WAREHOUSE_PATH": str(root / "cte.duckdb")}
    target = root / "target"
    command = [str(DBT), *args, "--target-path", str(target), "--log-path", str(target / "logs")]
    done = subprocess.run(
        command, cwd=REPO_ROOT / "dbt", env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"dbt {' '.join(args)} failed:\n{done.stdout[-6000:]}"


@pytest.fixture(scope="module")
def marts(landed) -> duckdb.DuckDBPyConnection:
    root, _ = landed
    _dbt(root, "seed")
    _dbt(
        root,
        "run",
        "--select",
        "+labor_market_alignment",
        "+credential_attainment",
        "+int_exit_cohorts",
    )
    con = duckdb.connect(str(root / "cte.duckdb"), read_only=True)
    yield con
    con.close()


# -- Projections Central and the BLS education table -------------------------------------


def test_projections_central_and_the_bls_table_load_as_published(landed):
    _, outcomes = landed
    projections = outcomes["occupational_projections"]
    assert projections.status is Status.LOADED, projections.error_message
    assert projections.rows_quarantined == 0
    assert "read as the Projections Central download layout" in projections.notes
    assert any("11-9013" in n and "turned into dates" in n for n in projections.notes)
    education = outcomes["education_assignments"]
    assert education.status is Status.LOADED, education.error_message
    assert education.rows_quarantined == 0
    assert "skipped 1 title row(s) above the header" in education.notes
    assert "skipped 3 note line(s) below the table" in education.notes
    assert education.rows_loaded == education.rows_read > 50


def test_raw_rows_hold_the_code_not_the_name_and_na_as_null(landed):
    root, outcomes = landed
    with duckdb.connect(str(root / "cte.duckdb"), read_only=True) as con:
        manifest = outcomes["occupational_projections"].manifest_id
        rows = dict(
            con.execute(
                "select soc_code, annual_openings from raw.occupational_projections "
                "where _manifest_id = ? and soc_code in ('11-9013', '15-1250', '15-1252')",
                [manifest],
            ).fetchall()
        )
        areas = con.execute(
            "select distinct area, typical_education from raw.occupational_projections "
            "where _manifest_id = ?",
            [manifest],
        ).fetchall()
        guidance = con.execute(
            "select job_training from raw.education_assignments where soc_code = '15-1252'"
        ).fetchall()
    assert rows["15-1252"] == 777 and rows["15-1250"] is None and rows["11-9013"] is not None
    assert areas == [("35", None)]
    assert guidance == [(None,)]  # BLS's em dash: no category


def test_the_mart_takes_openings_from_projections_central_and_education_from_bls(marts):
    row = marts.execute(
        "select typical_education, state_annual_openings, is_high_skill, is_high_demand, "
        "projections_year from marts.labor_market_alignment where school_year = 2025 "
        "and region_scope = 'state' and program_of_study_code = 'CSCI' and soc_code = '15-1252'"
    ).fetchone()
    assert row == ("Associate's degree", 777.0, True, True, 2025)
    farmers = marts.execute(
        "select state_annual_openings, typical_education from marts.labor_market_alignment "
        "where school_year = 2025 and region_scope = 'state' and program_of_study_code = 'AGSC' "
        "and soc_code = '11-9013'"
    ).fetchone()
    assert farmers[0] is not None and farmers[1] == "High school diploma or equivalent"
    [(years,)] = marts.execute(
        "select education_year from intermediate.int_labor_market_years where school_year = 2025"
    ).fetchall()
    assert years == 2024


# -- headers that are not quite either layout --------------------------------------------


def _csv(tmp_path: Path, extract: str, text: str, kind: str = "state") -> Path:
    path = _path(tmp_path, extract, kind, 2024, "20240901T083000", ".csv")
    path.write_text(text, encoding="utf-8")
    return path


def test_projections_central_rest_rows_take_the_code_not_the_area_name(tmp_path):
    text = (
        ",".join(REST)
        + "\n"
        + (
            '"New Mexico","Software Developers",3900,4600,700,17.9,"",35,'
            '"https://nm.example",15-1252,2024,2034\n'
        )
    )
    parsed = read_landed_file(parse_file_name(_csv(tmp_path, "occupational_projections", text)))
    [row] = parsed.frame.to_dicts()
    assert row["area"] == "35" and row["soc_code"] == "15-1252"
    assert row["annual_openings"] is None  # a quoted empty string is null
    assert row["base_emp"] == "3900" and row["proj_year"] == "2034"


def test_a_download_missing_a_column_is_named_by_its_own_header(tmp_path):
    header = [c for c in PROJECTIONS_CENTRAL if c != "Average Annual Openings"]
    text = ",".join(header) + "\n35,New Mexico,15-1252,Software Developers,2024,1,2034,2,1,1\n"
    path = _csv(tmp_path, "occupational_projections", text)
    with pytest.raises(FileRejected) as caught:
        read_landed_file(parse_file_name(path))
    assert caught.value.reason is FileReason.MISSING_COLUMNS
    assert "Projections Central download layout" in caught.value.message
    assert "'average annual openings'" in caught.value.message


def test_rename_hints_never_propose_a_column_of_another_meaning(tmp_path):
    """'area name' is not the area code, 'projection' is not the typical education."""
    header = (
        "area name,soc_code,occ_title,base_year,proj_year,base_emp,proj_emp,"
        "annual_openings,projection"
    )
    text = header + "\nNew Mexico,15-1252,Software Developers,2024,2034,1,2,1,2\n"
    with pytest.raises(FileRejected) as caught:
        read_landed_file(parse_file_name(_csv(tmp_path, "occupational_projections", text)))
    message = caught.value.message
    assert "missing required column(s): area, typical_education" in message
    assert "looks like a renamed" not in message
    # A publisher's own name for a column, and a typo, are still named.
    text = text.replace("area name", "state fips").replace(",projection", ",typical_educaton")
    with pytest.raises(FileRejected) as caught:
        read_landed_file(parse_file_name(_csv(tmp_path, "occupational_projections", text)))
    assert "'state fips' looks like a renamed 'area'" in caught.value.message
    assert "'typical_educaton' looks like a renamed 'typical_education'" in caught.value.message


# -- the STARS credential template --------------------------------------------------------


def test_the_stars_template_loads_under_its_own_name(landed):
    root, outcomes = landed
    stars = outcomes["credential_attainment"]
    assert (stars.district_code, stars.school_year) == ("001", 2025)
    assert stars.status is Status.LOADED, stars.error_message
    assert stars.rows_quarantined == 0 and stars.rows_loaded == 13
    assert "read as the STARS CTE Student Industry Credential template layout" in stars.notes
    assert "replaces manifest" in " ".join(stars.notes)  # the pre-shaped 2025 file
    with duckdb.connect(str(root / "cte.duckdb"), read_only=True) as con:
        pest = con.execute(
            "select school_year, cip_code, earned_date::varchar, verified, credential_name "
            "from raw.credential_attainment where _manifest_id = ? and credential_code = 'PEST'",
            [stars.manifest_id],
        ).fetchall()
    assert pest == [(2025, "01.1105", "2025-03-13", None, None)]


def test_credentials_count_when_their_code_is_on_peds_list_for_the_year(marts):
    rules = marts.execute(
        "select credential_code, verification_rule, is_verified, credential_name "
        "from staging.stg_credential_attainment where school_year = 2025 "
        "and credential_code in ('PEST', 'FF1') order by 1"
    ).fetchall()
    assert rules == [
        ("FF1", "PED_LIST", True, "Firefighter I"),
        ("PEST", "PED_LIST", False, "Pesticide Applicator License"),
    ]
    [(earned,)] = marts.execute(
        "select credentials_earned from marts.credential_attainment where school_year = 2025 "
        "and level = 'state' and career_cluster = 'ALL' and credential_tier = 'ALL'"
    ).fetchall()
    assert earned == 12  # the 12 reported codes on the list; PEST left the list after 2023


# -- the Clearinghouse's StudentTracker detail return --------------------------------------


def test_the_nsc_return_loads_into_the_raw_rows_a_pre_shaped_file_gives(landed):
    root, outcomes = landed
    nsc = outcomes["postsecondary_enrollment"]
    expected, _, _ = outcomes["nsc"]
    assert nsc.status is Status.LOADED, nsc.error_message
    assert nsc.rows_quarantined == 0 and nsc.rows_loaded == nsc.rows_read == len(expected)
    assert any("did not find (Record Found N)" in n for n in nsc.notes)
    assert any(n.startswith("skipped") and "degree row(s)" in n for n in nsc.notes)
    pseudonym = Pseudonymizer(KEY)
    ids = pl.Series([r[0] for r in expected])
    pseudonyms = dict(zip(ids, pseudonym(ids), strict=True))
    with duckdb.connect(str(root / "cte.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select student_id, term_start::varchar, institution_id, institution_type, "
            "in_state from raw.postsecondary_enrollment where _manifest_id = ? order by all",
            [nsc.manifest_id],
        ).fetchall()
        manifest = str(con.execute("from raw.load_manifest").fetchall())
    assert rows == sorted((pseudonyms[r[0]], *r[1:]) for r in expected)
    assert "NÚÑEZ" not in manifest and "JOSÉ" not in manifest


def test_3s1_takes_postsecondary_placement_from_the_nsc_return(marts, landed):
    """X's fall term (in Q, the 2nd quarter after a May exit) places X in postsecondary;
    Y's dual-credit term before exit places no one."""
    _, outcomes = landed
    _, x, y = outcomes["nsc"]
    ids = pl.Series([x, y])
    key_x, key_y = Pseudonymizer(KEY)(ids).to_list()
    placed = dict(
        marts.execute(
            "select student_key, placement_type from intermediate.int_exit_cohorts "
            "where school_year = 2024 and student_key in (?, ?)",
            [key_x, key_y],
        ).fetchall()
    )
    assert placed[key_x] == "POSTSECONDARY"
    assert placed[key_y] != "POSTSECONDARY"
