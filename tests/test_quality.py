"""The Great Expectations quality gate: suites, severities, quarantine, blocking, privacy."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dagster_project.contracts import EXTRACTS, EXTRACTS_BY_NAME, Extract, Kind
from dagster_project.ingest.reasons import RowReason
from dagster_project.quality import suites
from dagster_project.quality.cross_file import run_cross_file_checks
from dagster_project.quality.data_docs import publish_data_docs
from dagster_project.quality.gate import holding_rules, record_results
from dagster_project.quality.suites import CodeSets, read_code_sets, rules
from dagster_project.quality.validation import BatchResult, validate_batch
from dagster_project.warehouse import ensure_schema

YEAR = 2024
TODAY = date(2025, 1, 15)
N = 200  # rows in a clean frame: one bad row is 0.5 %, under the 1 % that blocks

SEEDS = {
    "schools.csv": "district_code,location_code,district_name\n001,010,Alpha\n001,020,Alpha\n"
    "002,030,Beta\n",
    "courses.csv": "course_code,course_title\n0111,Welding I\n0112,Welding II\n",
    "credentials.csv": "credential_code,name,cip_code\nCNA,Nursing Assistant,51.3902\n"
    "OSHA10,OSHA 10,46.0000\n",
    "programs_of_study.csv": "program_of_study_code,title\nWELD,Welding\nHLTH,Health\n",
}

VALID: dict[str, object] = {
    "district_code": "001",
    "location_code": "010",
    "school_year": YEAR,
    "grade_level": "10",
    "sex": "F",
    "race_ethnicity": "HISPANIC",
    "cohort_year": 2026,
    "exit_code": "CONTINUING",
    "exit_date": None,
    "course_code": "0111",
    "term": "YR",
    "completed": "Y",
    "credits_earned": Decimal("1.00"),
    "dual_credit": "N",
    "subject": "MATH",
    "scale_score": 500,
    "proficient": "Y",
    "program_of_study_code": "WELD",
    "component": 1,
    "rating": 3,
    "reviewed_on": date(2024, 3, 1),
    "cip_code": "51.3902",
    "delivery_method": "IS",
    "credential_code": "CNA",
    "credential_name": "Certified Nursing Assistant",
    "issuer": "NM Department of Health",
    "earned_date": date(2024, 4, 1),
    "verified": "Y",
    "wbl_type": "INTERNSHIP",
    "hours": 120,
    "employer_naics": "621111",
    "paid": "Y",
    "fiscal_year": YEAR,
    "fund": "11000",
    "function": "1000",
    "object": "51100",
    "program_code": "CTE",
    "amount": Decimal("1234.56"),
    "program": "PERKINS",
    "area": "35",
    "area_title": "New Mexico",
    "area_type": "2",
    "occ_code": "15-1252",
    "occ_title": "Software Developers",
    "o_group": "detailed",
    "tot_emp": 1200.0,
    "a_mean": 98000.0,
    "a_median": 95000.0,
    "a_pct10": 60000.0,
    "a_pct90": 140000.0,
    "soc_code": "15-1252",
    "base_year": 2022,
    "proj_year": 2032,
    "base_emp": 1000,
    "proj_emp": 1200,
    "annual_openings": 90,
    "typical_education": "Bachelor's degree",
    "work_experience": "None",
    "job_training": "None",
    "year": YEAR,
    "quarter": 1,
    "wages": Decimal("8000.00"),
    "term_start": date(2024, 8, 20),
    "institution_id": "UNM",
    "institution_type": "4YR",
    "in_state": "Y",
    "enlist_date": date(2024, 7, 1),
}
VALID.update(
    {
        f: "N"
        for f in (
            "economically_disadvantaged",
            "disability",
            "english_learner",
            "homeless",
            "foster_care",
            "military_connected",
            "migrant",
            "single_parent",
        )
    }
)

# One column varies per row so that each clean frame's natural key is unique.
VARYING = {
    "program_quality_review": ("component", lambda i: i + 1, 12),
    "school_expenditures": ("object", lambda i: f"{51100 + i}", N),
    "grant_awards": (
        "program",
        lambda i: ["NEXTGEN_CTE", "PERKINS", "INNOVATION_ZONE", "SUMMER_INTERNSHIP", "OTHER"][i],
        5,
    ),
    "oews_wages": ("occ_code", lambda i: f"{11 + i // 1000}-{i % 1000:04d}", N),
    "occupational_projections": ("soc_code", lambda i: f"{11 + i // 1000}-{i % 1000:04d}", N),
    "education_assignments": ("soc_code", lambda i: f"{11 + i // 1000}-{i % 1000:04d}", N),
}
POLARS_TYPES = {
    Kind.CODE: pl.String,
    Kind.TEXT: pl.String,
    Kind.INT: pl.Int64,
    Kind.DECIMAL: pl.Decimal(18, 2),
    Kind.DATE: pl.Date,
    Kind.BLS_NUMBER: pl.Float64,
}


def pseudonym(i: int) -> str:
    return f"{i:064x}"


def clean_frame(extract: Extract, manifest_id: int = 1) -> pl.DataFrame:
    varying, make, n = VARYING.get(extract.name, ("student_id", pseudonym, N))
    data: dict[str, pl.Series] = {}
    for column in extract.stored_columns:
        dtype = POLARS_TYPES[column.kind]
        if column.name == varying:
            values = [make(i) for i in range(n)]
        elif column.name == "student_id":
            values = [pseudonym(i) for i in range(n)]
        else:
            values = [VALID[column.name]] * n
        data[column.name] = pl.Series(column.name, values, dtype=dtype)
        if column.kind is Kind.BLS_NUMBER:
            data[f"{column.name}_flag"] = pl.Series([None] * n, dtype=pl.String)
    return pl.DataFrame(data).with_columns(
        _manifest_id=pl.lit(manifest_id, pl.Int64),
        _source_row=pl.int_range(2, n + 2, dtype=pl.Int64),
        _file_year=pl.lit(YEAR, pl.Int64),
    )


def with_values(frame: pl.DataFrame, row: int, values: dict[str, object]) -> pl.DataFrame:
    updated = frame
    for column, value in values.items():
        series = updated[column].to_list()
        series[row] = value
        updated = updated.with_columns(pl.Series(column, series, dtype=frame[column].dtype))
    return updated


@pytest.fixture(scope="module")
def code_sets(tmp_path_factory: pytest.TempPathFactory) -> CodeSets:
    directory = tmp_path_factory.mktemp("seeds")
    for name, text in SEEDS.items():
        (directory / name).write_text(text)
    return read_code_sets(directory)


def validate(extract_name: str, frame: pl.DataFrame, code_sets: CodeSets) -> BatchResult:
    return validate_batch(EXTRACTS_BY_NAME[extract_name], frame, YEAR, TODAY, code_sets=code_sets)


# -- the suites as files ----------------------------------------------------------------------


def test_one_suite_per_extract_with_complete_meta():
    files = {p.stem for p in suites.suites_dir().glob("*.json")}
    assert files == set(EXTRACTS_BY_NAME)
    reasons = {r.value for r in RowReason}
    for extract in EXTRACTS:
        suite_rules = rules(extract.name)
        names = [r.name for r in suite_rules]
        assert len(names) == len(set(names)), f"{extract.name}: duplicate meta.rule"
        for rule in suite_rules:
            assert rule.severity in suites.SEVERITIES, rule
            assert rule.reason_code in reasons, rule
            assert rule.message.endswith((".", "?")) and len(rule.message) > 15, rule
            if rule.severity == suites.ERROR:
                assert rule.mostly == suites.DEFAULT_MOSTLY, rule
        present = {r.column for r in suite_rules if r.name.endswith("_present")}
        required = {c.name for c in extract.stored_columns if c.required}
        assert present == required, extract.name


def test_suite_columns_exist_in_the_contract():
    for extract in EXTRACTS:
        known = set(extract.warehouse_columns()) | {suites.SCHOOL_KEY}
        for item in suites.suite_json(extract.name)["expectations"]:
            kwargs = item["kwargs"]
            columns = [kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B")]
            columns += kwargs.get("column_list", [])
            assert {c for c in columns if c} <= known, (extract.name, item["meta"]["rule"])


def test_real_seeds_give_every_code_set():
    sets = read_code_sets()
    for name in (
        "district_codes",
        "school_keys",
        "course_codes",
        "credential_codes",
        "cip_codes",
        "program_of_study_codes",
    ):
        assert getattr(sets, name), name


# -- clean data passes ------------------------------------------------------------------------


@pytest.mark.parametrize("extract", [e.name for e in EXTRACTS])
def test_clean_data_passes(extract: str, code_sets: CodeSets):
    result = validate(extract, clean_frame(EXTRACTS_BY_NAME[extract]), code_sets)
    failed = result.results.filter(~pl.col("success"))
    assert failed.is_empty(), failed.select("expectation", "unexpected_count").to_dicts()
    assert result.quarantine.is_empty()
    assert holding_rules(result.results) == {}
    assert result.results.height == len(rules(extract))


# -- bad data fails with the right rule, reason and severity ----------------------------------

BAD = [
    ("student_enrollment", {"grade_level": "14"}, "grade_level_in_range", "OUT_OF_RANGE"),
    ("student_enrollment", {"sex": "Q"}, "sex_known", "UNKNOWN_CODE"),
    ("student_enrollment", {"race_ethnicity": "LATINO"}, "race_ethnicity_known", "UNKNOWN_CODE"),
    ("student_enrollment", {"homeless": "1"}, "homeless_known", "UNKNOWN_CODE"),
    ("student_enrollment", {"district_code": "999"}, "district_code_known", "UNKNOWN_CODE"),
    ("student_enrollment", {"location_code": "030"}, "location_code_known", "UNKNOWN_CODE"),
    ("student_enrollment", {"student_id": None}, "student_id_present", "MISSING_VALUE"),
    (
        "student_enrollment",
        {"exit_date": date(2024, 5, 1)},
        "exit_date_blank_when_continuing",
        "INCONSISTENT",
    ),
    (
        "student_enrollment",
        {"exit_code": "GRADUATED"},
        "exit_date_present_when_exited",
        "INCONSISTENT",
    ),
    (
        "student_enrollment",
        {"exit_code": "DROPPED", "exit_date": date(2025, 3, 1)},
        "exit_date_not_future",
        "FUTURE_DATE",
    ),
    ("student_enrollment", {"cohort_year": 2040}, "cohort_year_plausible", "OUT_OF_RANGE"),
    ("student_enrollment", {"student_id": pseudonym(0)}, "key_unique", "DUPLICATE_KEY"),
    ("cte_course_enrollment", {"course_code": "9999"}, "course_code_known", "UNKNOWN_CODE"),
    (
        "cte_course_enrollment",
        {"credits_earned": Decimal("2.50")},
        "credits_earned_in_range",
        "OUT_OF_RANGE",
    ),
    (
        "cte_course_enrollment",
        {"credits_earned": Decimal("-1.00")},
        "credits_earned_in_range",
        "OUT_OF_RANGE",
    ),
    ("cte_course_enrollment", {"term": "Q3"}, "term_known", "UNKNOWN_CODE"),
    ("cte_course_enrollment", {"completed": "N"}, "no_credits_when_not_completed", "INCONSISTENT"),
    ("assessment_results", {"subject": "ELA"}, "subject_known", "UNKNOWN_CODE"),
    ("assessment_results", {"scale_score": 5000}, "scale_score_in_range", "OUT_OF_RANGE"),
    ("program_quality_review", {"component": 13}, "component_in_range", "OUT_OF_RANGE"),
    ("program_quality_review", {"rating": 5}, "rating_in_range", "OUT_OF_RANGE"),
    (
        "program_quality_review",
        {"program_of_study_code": "NOPE"},
        "program_of_study_code_known",
        "UNKNOWN_CODE",
    ),
    (
        "program_quality_review",
        {"reviewed_on": date(2025, 2, 1)},
        "reviewed_on_not_future",
        "FUTURE_DATE",
    ),
    ("credential_attainment", {"cip_code": "470604"}, "cip_code_format", "UNKNOWN_CODE"),
    ("credential_attainment", {"cip_code": "47.0604"}, "cip_code_known", "UNKNOWN_CODE"),
    ("credential_attainment", {"delivery_method": "XX"}, "delivery_method_known", "UNKNOWN_CODE"),
    ("credential_attainment", {"credential_code": "NOPE"}, "credential_code_known", "UNKNOWN_CODE"),
    (
        "credential_attainment",
        {"earned_date": date(2023, 5, 1)},
        "earned_date_in_school_year",
        "INCONSISTENT",
    ),
    ("work_based_learning", {"hours": 2500}, "hours_in_range", "OUT_OF_RANGE"),
    ("work_based_learning", {"employer_naics": "12345"}, "employer_naics_format", "UNKNOWN_CODE"),
    ("work_based_learning", {"wbl_type": "VOLUNTEER"}, "wbl_type_known", "UNKNOWN_CODE"),
    ("school_expenditures", {"fund": "1100"}, "fund_format", "UNKNOWN_CODE"),
    ("school_expenditures", {"function": "100A"}, "function_format", "UNKNOWN_CODE"),
    ("school_expenditures", {"amount": Decimal("50000000.00")}, "amount_plausible", "OUT_OF_RANGE"),
    ("school_expenditures", {"object": "51100"}, "key_unique", "DUPLICATE_KEY"),
    ("grant_awards", {"amount": Decimal("-5.00")}, "amount_not_negative", "OUT_OF_RANGE"),
    ("grant_awards", {"district_code": "777"}, "district_code_known", "UNKNOWN_CODE"),
    ("oews_wages", {"occ_code": "151252"}, "occ_code_format", "UNKNOWN_CODE"),
    ("oews_wages", {"o_group": "broad"}, "o_group_known", "UNKNOWN_CODE"),
    ("oews_wages", {"a_median": -1.0}, "a_median_not_negative", "OUT_OF_RANGE"),
    ("oews_wages", {"a_pct90": 90000.0}, "pct90_not_below_median", "INCONSISTENT"),
    ("occupational_projections", {"proj_year": 2022}, "proj_year_after_base_year", "INCONSISTENT"),
    (
        "occupational_projections",
        {"typical_education": "PhD"},
        "typical_education_known",
        "UNKNOWN_CODE",
    ),
    ("wage_records", {"quarter": 5}, "quarter_in_range", "OUT_OF_RANGE"),
    ("wage_records", {"wages": Decimal("-10.00")}, "wages_not_negative", "OUT_OF_RANGE"),
    (
        "postsecondary_enrollment",
        {"institution_type": "3YR"},
        "institution_type_known",
        "UNKNOWN_CODE",
    ),
    (
        "postsecondary_enrollment",
        {"term_start": date(2025, 8, 20)},
        "term_start_not_future",
        "FUTURE_DATE",
    ),
    (
        "military_enlistment",
        {"enlist_date": date(2026, 1, 1)},
        "enlist_date_not_future",
        "FUTURE_DATE",
    ),
]


@pytest.mark.parametrize(("extract", "values", "rule_name", "reason"), BAD)
def test_bad_value_fails_its_rule(
    extract: str, values: dict, rule_name: str, reason: str, code_sets: CodeSets
):
    frame = with_values(clean_frame(EXTRACTS_BY_NAME[extract]), 1, values)
    result = validate(extract, frame, code_sets)
    rule = next(r for r in rules(extract) if r.name == rule_name)
    assert rule.reason_code == reason
    row = result.results.filter(pl.col("expectation") == rule_name).to_dicts()[0]
    expected_rows = 2 if reason == "DUPLICATE_KEY" else 1  # both copies of a key
    assert row["unexpected_count"] == expected_rows
    assert row["severity"] == rule.severity and row["reason_code"] == reason
    quarantined = result.quarantine.filter(pl.col("message") == rule.message)
    if rule.severity == suites.ERROR:
        assert 3 in quarantined["_source_row"].to_list()  # row index 1 is source row 3
        assert set(quarantined["reason_code"]) == {reason}
        assert set(quarantined["column_name"]) == {rule.column}
    else:
        assert quarantined.is_empty() and not row["success"]
        assert holding_rules(result.results) == {}


def test_few_bad_rows_quarantine_many_block(code_sets: CodeSets):
    extract = "cte_course_enrollment"
    clean = clean_frame(EXTRACTS_BY_NAME[extract])
    one_bad = with_values(clean, 5, {"credits_earned": Decimal("3.00")})
    result = validate(extract, one_bad, code_sets)
    assert result.quarantine["_source_row"].to_list() == [7]
    assert holding_rules(result.results) == {}

    many_bad = clean.with_columns(
        credits_earned=pl.when(pl.col("_source_row") < 7)
        .then(pl.lit(Decimal("3.00")))
        .otherwise(pl.col("credits_earned"))
        .cast(pl.Decimal(18, 2))
    )
    result = validate(extract, many_bad, code_sets)
    assert result.quarantine.height == 5
    assert holding_rules(result.results) == {1: ["Credits earned must be between 0.0 and 2.0."]}


def test_counts_are_per_submission(code_sets: CodeSets):
    extract = EXTRACTS_BY_NAME["student_enrollment"]
    good = clean_frame(extract, manifest_id=10)
    bad = with_values(
        clean_frame(extract, manifest_id=11).with_columns(
            pl.col("student_id").str.replace("^0", "f")  # other students than manifest 10
        ),
        0,
        {"sex": "Q"},
    )
    result = validate("student_enrollment", pl.concat([good, bad]), code_sets)
    sex = result.results.filter(pl.col("expectation") == "sex_known")
    assert dict(zip(sex["manifest_id"], sex["unexpected_count"], strict=True)) == {10: 0, 11: 1}
    assert set(sex["element_count"]) == {N}
    assert result.quarantine.select("_manifest_id", "_source_row").rows() == [(11, 2)]


# -- privacy: no personal value in audit results, Data Docs or GX stores ----------------------

RAW_ID = "123456789"
NAME = "Zoë Quintana-Benavídez"


def test_no_personal_value_leaves_the_gate(tmp_path: Path, code_sets: CodeSets):
    extract = EXTRACTS_BY_NAME["credential_attainment"]
    hashed = pseudonym(987654321)
    frame = with_values(
        clean_frame(extract),
        3,
        # A clerk pasted a student's raw ID and name into code and text columns.
        {"student_id": hashed, "credential_code": RAW_ID, "cip_code": NAME, "issuer": NAME},
    )
    frame = with_values(
        frame,
        4,
        {"student_id": hashed, "credential_code": RAW_ID, "cip_code": NAME, "issuer": NAME},
    )
    result = validate("credential_attainment", frame, code_sets)
    assert not result.quarantine.is_empty()

    reports = tmp_path / "reports"
    con = duckdb.connect(str(tmp_path / "cte.duckdb"))
    ensure_schema(con)
    record_results(con, result.results, "run-1")
    index = publish_data_docs([result], reports)
    assert index.exists()

    stored = " ".join(
        str(v) for row in con.sql("select * from audit.dq_results").fetchall() for v in row
    )
    con.close()
    planted = (RAW_ID, NAME, hashed)
    assert not any(p in stored for p in planted)
    assert not any(p in result.quarantine.write_csv() for p in planted)
    written = [p for p in reports.rglob("*") if p.is_file() and p.suffix in {".html", ".json"}]
    assert any(p.suffix == ".json" for p in written)  # the sanitized results store
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert not any(p in text for p in planted), path
    results_store = json.loads(next(p for p in written if p.suffix == ".json").read_text())
    assert all(
        set(r["result"])
        <= {
            "element_count",
            "unexpected_count",
            "unexpected_percent",
            "missing_count",
            "missing_percent",
            "unexpected_percent_total",
            "unexpected_percent_nonmissing",
        }
        for r in results_store["results"]
    )
    # Nothing is written into the committed GX project.
    project = suites.suites_dir().parent
    assert not (project / "uncommitted").exists()


def test_data_docs_work_offline(tmp_path: Path, code_sets: CodeSets):
    result = validate("grant_awards", clean_frame(EXTRACTS_BY_NAME["grant_awards"]), code_sets)
    index = publish_data_docs([result], tmp_path)
    pages = list(index.parent.rglob("*.html")) + list(index.parent.rglob("*.css"))
    assert len(pages) > len(EXTRACTS)  # the index, a page per suite, the validation, styles
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "https://" not in text and "http://" not in text.replace("http://www.w3.org/", ""), (
            page
        )
    assert "<style>" in index.read_text(encoding="utf-8")


class _Tables(HTMLParser):
    """Rows of each table of a page (cell texts and links), as a browser without scripts
    shows them."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.links: dict[str, list[str]] = {}
        self.scripts = 0
        self._table = self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts += 1
        elif tag == "table":
            self._table = attrs.get("id")
            self.tables[self._table], self.links[self._table] = [], []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag == "td" and self._table:
            self._cell = []
        elif tag == "a" and self._table and attrs.get("href"):
            self.links[self._table].append(attrs["href"])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data.strip())

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.tables[self._table][-1].append(" ".join(filter(None, self._cell)))
            self._cell = None
        elif tag == "table":
            self._table = None


def test_the_data_docs_home_page_lists_results_and_suites_without_scripts(
    tmp_path: Path, code_sets: CodeSets
):
    """Issue 24: offline, bootstrap-table never ran and the home page showed no row."""
    names = ["grant_awards", "school_expenditures"]
    results = [validate(n, clean_frame(EXTRACTS_BY_NAME[n]), code_sets) for n in names]
    index = publish_data_docs(results, tmp_path)
    page = _Tables()
    page.feed(index.read_text(encoding="utf-8"))
    assert page.scripts == 0
    [validations] = [rows for name, rows in page.tables.items() if name.endswith("2-1-body-table")]
    [suite_list] = [rows for name, rows in page.tables.items() if name.endswith("2-2-body-table")]
    # Newest first, as bootstrap-table sorted them: Status, Run Time, Run Name, Asset, ...
    assert [row[2] for row in validations if row] == [f"{n}-{YEAR}" for n in reversed(names)]
    assert [row[0] for row in suite_list if row] == sorted(e.name for e in EXTRACTS)
    for links in page.links.values():
        assert links and all((index.parent / href).is_file() for href in links), links


# -- checks across files ----------------------------------------------------------------------


def _manifest(con, manifest_id, extract, district, year, rows, status="LOADED", submitted=None):
    con.execute(
        "insert into raw.load_manifest (manifest_id, path, file_name, sha256, extract, "
        "district_code, school_year, submitted_at, rows_read, rows_loaded, rows_quarantined, "
        "status, loaded_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, now())",
        [
            manifest_id,
            f"f{manifest_id}",
            f"{extract}__{district}__{year}__{manifest_id}.csv",
            f"sha{manifest_id}",
            extract,
            district,
            year,
            submitted or f"{year}-06-15 10:00:00",
            rows,
            rows,
            status,
        ],
    )


def _insert(con, extract: str, frame: pl.DataFrame) -> None:
    table = frame.select(list(EXTRACTS_BY_NAME[extract].warehouse_columns())).to_arrow()
    con.register("incoming", table)
    con.execute(f"insert into raw.{extract} select * from incoming")
    con.unregister("incoming")


def test_cross_file_checks(tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "cte.duckdb"))
    ensure_schema(con)
    enrollment = clean_frame(EXTRACTS_BY_NAME["student_enrollment"], manifest_id=1).head(150)
    courses = clean_frame(EXTRACTS_BY_NAME["cte_course_enrollment"], manifest_id=2)
    _manifest(con, 1, "student_enrollment", "001", YEAR, 150)
    _manifest(con, 2, "cte_course_enrollment", "001", YEAR, N)
    # The previous year's course file was twice as long: the row count check warns.
    _manifest(con, 3, "cte_course_enrollment", "001", YEAR - 1, 2 * N)
    _insert(con, "student_enrollment", enrollment)
    _insert(con, "cte_course_enrollment", courses)

    results = run_cross_file_checks(con, "run-1")
    run_cross_file_checks(con, "run-2")  # replaces, does not pile up
    by_rule = {
        r[0]: r[1:]
        for r in con.sql(
            "select expectation, manifest_id, success, element_count, unexpected_count, "
            "severity from audit.dq_results where suite = 'cross_file'"
        ).fetchall()
    }
    assert by_rule["course_students_in_enrollment"] == (2, False, N, N - 150, "WARN")
    assert by_rule["row_count_near_previous"][:3] == (2, False, N)
    assert (
        "-50%"
        in results.filter(pl.col("expectation") == "row_count_near_previous")["description"][0]
    )
    assert len(by_rule) == con.sql("select count(*) from audit.dq_results").fetchall()[0][0]
    con.close()


def test_dq_results_is_declared_once():
    """The table, a batch's results and the cross-file results share one declaration
    (quality/gate.py): the DDL's columns are the declaration's, stamps included."""
    from dagster_project.quality import cross_file, gate

    con = duckdb.connect()
    ensure_schema(con)
    table = con.sql("select * from audit.dq_results limit 0").pl().schema
    assert dict(table) == {name: dtype for name, (_, dtype) in gate.DQ_RESULTS.items()}
    assert set(cross_file._CHECK_SCHEMA) | {"suite", "severity"} == set(gate.RESULT_SCHEMA)
