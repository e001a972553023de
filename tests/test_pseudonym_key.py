"""The pseudonym key: without one only the generated sample loads; every load records the
key's fingerprint (never the key); a load with another key than the warehouse's is refused
(decision 0012)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from dagster_project.contracts import EXTRACTS, get_extract
from dagster_project.ingest.landing import landing_path, list_landed
from dagster_project.ingest.loader import Loader, PseudonymKeyMismatch
from dagster_project.ingest.sample import registry_path
from dagster_project.sample_data import generate
from dagster_project.settings import DEVELOPMENT_PSEUDONYM_KEY, get_settings, key_fingerprint
from dagster_project.warehouse import ensure_schema

DEV = DEVELOPMENT_PSEUDONYM_KEY.encode()
SECRET = b"a-long-secret-key-kept-by-the-state"
COURSES = get_extract("cte_course_enrollment")


def _real_file(landing: Path, district: str = "001") -> Path:
    folder = landing_path(landing, COURSES)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"cte_course_enrollment__{district}__2024__20240701T090000.csv"
    path.write_text(
        ",".join(COURSES.column_names) + f"\n123456789,{district},010,2024,AG101,S1,Y,0.5,N\n"
    )
    return path


def _warehouse(tmp_path: Path, name: str = "cte.duckdb") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / name))
    ensure_schema(con)
    return con


def _manifest(con) -> list[tuple]:
    return con.execute(
        "select file_name, status, reason_code, key_fingerprint from raw.load_manifest "
        "order by manifest_id"
    ).fetchall()


@pytest.fixture(scope="module")
def sample_landing(tmp_path_factory) -> Path:
    landing = tmp_path_factory.mktemp("sample") / "raw" / "landing"
    generate("tiny", years=1, seed=5, landing_dir=landing, last_year=2024)
    return landing


def test_unset_key_means_the_development_key(monkeypatch):
    monkeypatch.delenv("CTE_PSEUDONYM_KEY", raising=False)
    assert get_settings().pseudonym_key() == DEV
    monkeypatch.setenv("CTE_PSEUDONYM_KEY", SECRET.decode())
    assert get_settings().pseudonym_key() == SECRET
    assert SECRET.decode() not in repr(get_settings())  # the settings never print it


def test_without_a_key_the_generated_sample_loads_and_nothing_else(sample_landing, tmp_path):
    assert registry_path(sample_landing).exists()
    sample = [p for e in EXTRACTS for p in list_landed(sample_landing, e)][:6]
    landing = tmp_path / "raw" / "landing"
    for path in sample:  # copied, registry and all, beside a real file: known by its bytes
        target = landing / path.relative_to(sample_landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    real = _real_file(landing)
    shutil.copytree(registry_path(sample_landing).parent, registry_path(landing).parent)
    con = _warehouse(tmp_path)
    outcomes = {o.file_name: o for o in Loader(con, landing, DEV).load([*sample, real])}
    refused = outcomes.pop(real.name)
    assert (refused.status.value, str(refused.reason_code)) == ("REJECTED", "NO_PSEUDONYM_KEY")
    assert "CTE_PSEUDONYM_KEY" in refused.error_message
    assert {o.status.value for o in outcomes.values()} == {"LOADED"}
    assert con.execute("select count(*) from raw.cte_course_enrollment").fetchall()[0][0] > 0


def test_a_file_refused_for_want_of_a_key_loads_once_a_key_is_set(tmp_path):
    landing = tmp_path / "landing"
    path = _real_file(landing)
    con = _warehouse(tmp_path)
    [refused] = Loader(con, landing, DEV).load([path])
    assert refused.status.value == "REJECTED"
    [loaded] = Loader(con, landing, SECRET).load([path])  # not a duplicate of the refusal
    assert loaded.status.value == "LOADED"


def test_every_manifest_row_records_the_fingerprint_not_the_key(tmp_path):
    landing = tmp_path / "landing"
    con = _warehouse(tmp_path)
    Loader(con, landing, SECRET).load([_real_file(landing, "001"), _real_file(landing, "002")])
    rows = _manifest(con)
    assert [r[3] for r in rows] == [key_fingerprint(SECRET)] * 2
    assert key_fingerprint(SECRET) != key_fingerprint(b"another key")
    assert len(key_fingerprint(SECRET)) == 16
    stored = "\n".join(map(str, con.execute("select * from raw.load_manifest").fetchall()))
    assert SECRET.decode() not in stored


def test_a_load_with_another_key_is_refused_and_changes_nothing(tmp_path):
    landing = tmp_path / "landing"
    con = _warehouse(tmp_path)
    Loader(con, landing, SECRET).load([_real_file(landing, "001")])
    before = _manifest(con)
    with pytest.raises(PseudonymKeyMismatch, match="differs from the key this warehouse"):
        Loader(con, landing, b"a-different-key").load([_real_file(landing, "002")])
    assert _manifest(con) == before
    [again] = Loader(con, landing, SECRET).load([_real_file(landing, "002")])
    assert again.status.value == "LOADED"


def test_a_sample_warehouse_refuses_a_real_key_and_says_why(sample_landing, tmp_path):
    con = _warehouse(tmp_path)
    [first] = [p for p in list_landed(sample_landing, COURSES)][:1]
    [loaded] = Loader(con, sample_landing, DEV).load([first])
    assert loaded.status.value == "LOADED"
    with pytest.raises(PseudonymKeyMismatch, match="development key"):
        Loader(con, sample_landing, SECRET).load([_real_file(tmp_path / "landing")])


def test_a_warehouse_from_before_fingerprints_upgrades_in_place(tmp_path):
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute("create schema raw")
    con.execute(
        "create table raw.load_manifest (manifest_id bigint, path varchar, file_name varchar, "
        "sha256 varchar, extract varchar, district_code varchar, school_year bigint, "
        "submitted_at timestamp, file_bytes bigint, encoding varchar, rows_read bigint, "
        "rows_loaded bigint, rows_quarantined bigint, status varchar, reason_code varchar, "
        "error_message varchar, notes varchar, loaded_at timestamp, run_id varchar)"
    )
    ensure_schema(con)
    columns = [r[0] for r in con.execute("describe raw.load_manifest").fetchall()]
    # holds: decision 0016; the Ed-Fi pull's source and change versions: decision 0022
    assert columns[-6:] == [
        "key_fingerprint",
        "holds",
        "source",
        "source_resources",
        "change_version_min",
        "change_version_max",
    ]
