"""File-level rejection and structural row rules, on small hand-written files."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from dagster_project.contracts import get_extract
from dagster_project.ingest.audit import reconcile
from dagster_project.ingest.landing import FileNameError, landing_path, parse_file_name
from dagster_project.ingest.loader import Loader
from dagster_project.ingest.reader import FileRejected, read_landed_file
from dagster_project.ingest.reasons import FileReason, RowReason
from dagster_project.ingest.rows import MASK, Pseudonymizer, prepare_rows
from dagster_project.warehouse import ensure_schema

HEADER = (
    "student_id,district_code,location_code,school_year,course_code,term,completed,"
    "credits_earned,dual_credit"
)
GOOD = "123456789,001,010,2024,AG101,S1,Y,0.5,N"


def _write(tmp_path: Path, content: bytes, name: str | None = None) -> Path:
    extract = get_extract("cte_course_enrollment")
    folder = landing_path(tmp_path, extract)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or "cte_course_enrollment__001__2024__20240615T103000.csv")
    path.write_bytes(content)
    return path


def _prepare(path: Path):
    landed = parse_file_name(path)
    return prepare_rows(landed, read_landed_file(landed), Pseudonymizer(b"k"))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", FileReason.ZERO_BYTE),
        (HEADER.encode() + b"\n", FileReason.EMPTY_FILE),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", FileReason.NOT_CSV),
        (
            HEADER.replace(",", ";").encode() + b"\n" + GOOD.replace(",", ";").encode(),
            FileReason.WRONG_DELIMITER,
        ),
        (
            HEADER.replace("credits_earned", "credits").encode() + b"\n" + GOOD.encode(),
            FileReason.MISSING_COLUMNS,
        ),
    ],
)
def test_file_level_problems_reject_the_file(tmp_path, content, reason):
    landed = parse_file_name(_write(tmp_path, content))
    with pytest.raises(FileRejected) as caught:
        read_landed_file(landed)
    assert caught.value.reason is reason


def test_renamed_column_is_named_in_the_message(tmp_path):
    content = HEADER.replace("credits_earned", "credits_earnd").encode() + b"\n" + GOOD.encode()
    with pytest.raises(FileRejected, match="'credits_earnd' looks like a renamed 'credits_earned'"):
        read_landed_file(parse_file_name(_write(tmp_path, content)))


def test_bad_file_names_are_explained():
    with pytest.raises(FileNameError, match="expected <extract>"):
        parse_file_name(Path("enrollment_2024.csv"))
    with pytest.raises(FileNameError, match="named with 'state'"):
        parse_file_name(Path("wage_records__001__2024__20240101T000000.csv"))


def test_bom_latin1_blank_lines_extra_columns_and_case_insensitive_header(tmp_path):
    header = HEADER.upper() + ",NOTE"
    text = f"{header}\n\n{GOOD},caf\xe9\n\n".encode("latin-1")
    parsed = read_landed_file(parse_file_name(_write(tmp_path, b"\xef\xbb\xbf" + text)))
    # BOM first; the Latin-1 byte after it does not decode as UTF-8 -> Latin-1 fallback.
    assert parsed.frame.height == 1
    assert parsed.frame["_source_row"].to_list() == [3]  # line numbers count blank lines
    assert any("blank" in n for n in parsed.notes)
    assert any("note" in n for n in parsed.notes)


def test_latin1_text_is_decoded(tmp_path):
    extract = get_extract("credential_attainment")
    folder = landing_path(tmp_path, extract)
    folder.mkdir(parents=True)
    path = folder / "credential_attainment__001__2024__20240615T103000.csv"
    header = ",".join(extract.column_names)
    row = "123456789,001,010,2024,51.3902,IS,CNA,T\xe9cnico en Enfermer\xeda,Pe\xf1a,2024-03-01,Y"
    path.write_bytes(f"{header}\n{row}\n".encode("latin-1"))
    landed = parse_file_name(path)
    parsed = read_landed_file(landed)
    assert parsed.encoding == "latin-1"
    rows, issues = prepare_rows(landed, parsed, Pseudonymizer(b"k"))
    assert rows["credential_name"].to_list() == ["Técnico en Enfermería"]
    assert rows["issuer"].to_list() == ["Peña"]
    assert issues.is_empty()


def test_structural_row_rules(tmp_path):
    lines = [
        HEADER,
        GOOD,  # 2 ok
        GOOD,  # 3 exact duplicate of 2
        "223456789,001,010,2024,AG101,S1,Y,0.5,N",  # 4 same key as 5, different values
        "223456789,001,010,2024,AG101,S1,N,0.0,N",  # 5
        "323456789,002,010,2024,AG101,S1,Y,0.5,N",  # 6 district mismatch
        "423456789,001,010,2023,AG101,S1,Y,0.5,N",  # 7 year mismatch
        "523456789,001,010,2024,AG101,S1,Y,lots,N",  # 8 type mismatch
        "62345678X,001,010,2024,AG101,S1,Y,0.5,N",  # 9 bad student id
        "723456789,001,010,2024,AG1",  # 10 truncated (no newline at end)
    ]
    rows, issues = _prepare(_write(tmp_path, "\n".join(lines).encode()))
    reasons = dict(zip(issues["_source_row"], issues["reason_code"], strict=True))
    assert reasons == {
        3: RowReason.DUPLICATE_ROW,
        4: RowReason.DUPLICATE_KEY,
        5: RowReason.DUPLICATE_KEY,
        6: RowReason.DISTRICT_MISMATCH,
        7: RowReason.YEAR_MISMATCH,
        8: RowReason.TYPE_MISMATCH,
        9: RowReason.INVALID_STUDENT_ID,
        10: RowReason.TRUNCATED_ROW,
    }
    assert rows["_source_row"].to_list() == [2]
    # pseudonymized, never the raw ID; the raw ID is masked in the quarantine
    assert rows["student_id"].str.len_chars().to_list() == [64]
    assert "62345678X" not in issues["value"].fill_null("").to_list()
    assert MASK in issues["value"].to_list()


def test_pseudonym_depends_on_the_key():
    ids = pl.Series(["123456789", "123456789", None])
    first = Pseudonymizer(b"one")(ids).to_list()
    assert first[0] == first[1] and first[2] is None
    assert first[0] != Pseudonymizer(b"two")(ids).to_list()[0]


def test_bls_flags_are_kept_beside_the_number(tmp_path):
    extract = get_extract("oews_wages")
    folder = landing_path(tmp_path, extract)
    folder.mkdir(parents=True)
    path = folder / "oews_wages__state__2024__20240601T000000.csv"
    header = ",".join(extract.column_names)
    path.write_text(
        f'{header}\n35,New Mexico,2,15-1252,Software Developers,detailed,"1,230",99000,#,*,**\n'
    )
    rows, issues = _prepare_any(path)
    assert issues.is_empty()
    row = rows.row(0, named=True)
    assert row["tot_emp"] == 1230 and row["a_median"] is None and row["a_median_flag"] == "#"
    assert row["a_pct90_flag"] == "**"


def _prepare_any(path: Path):
    landed = parse_file_name(path)
    return prepare_rows(landed, read_landed_file(landed), Pseudonymizer(b"k"))


def test_two_submissions_of_one_slice_in_one_load_keep_only_the_later(tmp_path):
    """Files of one extract and year are written in one transaction: the later submission
    of a district and year must still supersede the earlier one loaded beside it."""
    earlier = _write(tmp_path, f"{HEADER}\n{GOOD}\n{GOOD.replace('AG101', 'AG102')}\n".encode())
    later = _write(
        tmp_path,
        f"{HEADER}\n{GOOD.replace('AG101', 'AG103')}\n".encode(),
        name="cte_course_enrollment__001__2024__20240715T103000.csv",
    )
    other = _write(
        tmp_path,
        f"{HEADER}\n{GOOD.replace(',001,', ',002,').replace(',010,', ',020,')}\n".encode(),
        name="cte_course_enrollment__002__2024__20240615T103000.csv",
    )
    con = duckdb.connect(str(tmp_path / "cte.duckdb"))
    ensure_schema(con)
    outcomes = {o.file_name: o for o in Loader(con, tmp_path, b"k").load([later, earlier, other])}
    status = dict(con.execute("select file_name, status from raw.load_manifest").fetchall())
    assert status == {
        earlier.name: "SUPERSEDED",
        later.name: "LOADED",
        other.name: "LOADED",
    }
    stored = dict(
        con.execute(
            "select _manifest_id, list(course_code order by course_code) "
            "from raw.cte_course_enrollment group by all"
        ).fetchall()
    )
    assert stored == {
        outcomes[later.name].manifest_id: ["AG103"],
        outcomes[other.name].manifest_id: ["AG101"],
    }
    balances = reconcile(con, [o.manifest_id for o in outcomes.values()])
    assert [(b.rows_read, b.rows_in_table, b.rows_in_quarantine) for b in balances] == [
        (1, 1, 0),
        (1, 1, 0),
    ]


def test_a_load_reads_each_file_once_for_its_fingerprint(tmp_path, monkeypatch):
    """Choosing the new files hashes them; the loader takes those hashes instead of reading
    every file again (issue 21)."""
    from dagster_project.assets import raw
    from dagster_project.ingest import landing, loader

    first = _write(tmp_path, f"{HEADER}\n{GOOD}\n".encode())
    second = _write(
        tmp_path,
        f"{HEADER}\n{GOOD.replace(',001,', ',002,').replace(',010,', ',020,')}\n".encode(),
        name="cte_course_enrollment__002__2024__20240615T103000.csv",
    )
    hashed: list[Path] = []

    def counting(path: Path) -> str:
        hashed.append(path)
        return landing.sha256_of(path)

    monkeypatch.setattr(raw, "sha256_of", counting)
    monkeypatch.setattr(loader, "sha256_of", counting)
    extract = get_extract("cte_course_enrollment")
    selected = raw.select_files(extract, tmp_path, {2024}, raw.LoadConfig(), recorded=set())
    assert selected == {first: landing.sha256_of(first), second: landing.sha256_of(second)}
    con = duckdb.connect(str(tmp_path / "cte.duckdb"))
    ensure_schema(con)
    outcomes = Loader(con, tmp_path, b"k").load(selected, sha256s=selected)
    assert sorted(hashed) == sorted([first, second])
    assert {o.sha256 for o in outcomes} == set(selected.values())
