"""The marts built from the Ed-Fi pull equal the marts built from the same students' CSV
extracts, cell for cell (issue 18, decision 0022 "Equivalence test").

A tiny sample (three school years, district 001) is generated. Warehouse A loads every
landed file, as ``cte run`` does. Warehouse B loads the same files except the four
families Nova serves (``student_enrollment``, ``cte_course_enrollment``,
``credential_attainment``, ``assessment_results``): their rows are turned into Ed-Fi records
(tests/edfi_from_sample.py, the inverse of the mapping), served by the fake ODS/API (one
ODS for the three years) and pulled (``pull_school_year``), year by year, into B. dbt
builds the marts of both; every table of the ``marts`` schema is compared on all its
columns, order aside, exactly (floats too). The four families' raw rows are compared
too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest
from edfi_fake import KEY, FakeOds, pull, serve
from edfi_from_sample import (
    EDFI_EXTRACTS,
    PROGRAM_OF_FLAG,
    Records,
    ods_records,
    without_edfi_families,
)

from dagster_project.contracts import get_extract
from dagster_project.dbt_project import run_dbt
from dagster_project.ingest.edfi.mapping import FAMILIES
from dagster_project.ingest.edfi.pull import PullResult
from dagster_project.ingest.loader import Loader
from dagster_project.ingest.reasons import Status
from dagster_project.sample_data import generate
from dagster_project.settings import get_settings
from dagster_project.warehouse import ensure_schema

pytestmark = pytest.mark.slow

SCALE, YEARS, SEED = "tiny", 3, 7  # three years: every mart has rows (comparison_outcomes too)
PAGE_SIZE = 500  # the ODS/API's largest page
SHOWN_ROWS = 5  # differing rows shown per side when a table differs


# --- building the two warehouses -------------------------------------------------------


def load_files(warehouse: Path, landing: Path) -> None:
    """Every file landed under ``landing``, in one load, as ``cte run`` loads them."""
    with duckdb.connect(str(warehouse)) as con:
        ensure_schema(con)
        outcomes = Loader(con, landing, KEY).load(p for p in landing.rglob("*") if p.is_file())
    refused = [(o.file_name, o.status) for o in outcomes if o.status is not Status.LOADED]
    assert not refused, refused


def serve_records(records: Records) -> tuple[ThreadingHTTPServer, str]:
    return serve(FakeOds.holding(records))


def pull_every_year(
    con: duckdb.DuckDBPyConnection, landing: Path, records: Records, years: list[int]
) -> list[PullResult]:
    """The ODS served by the fake, pulled year by year and family by family into ``con``
    (students before their courses, credentials and assessments, as the sensors would mostly
    run)."""
    server, url = serve_records(records)
    try:
        return [
            pull(con, url, landing, FAMILIES[name], page_size=PAGE_SIZE, year=year)
            for year in years
            for name in EDFI_EXTRACTS
        ]
    finally:
        server.shutdown()


def check_pulls(pulls: list[PullResult], records: Records) -> None:
    """Each pull accounted for every record of its family's spine (placed or of another
    year), loaded every submission whole, and each record was placed in exactly one year;
    each special population's program association set a flag in exactly one year."""
    placed: Counter[str] = Counter()
    for result in pulls:
        extract = result.family.extract.name
        assert result.reconciles, (extract, result.school_year)
        assert not result.placement.unplaced and not result.placement.earlier_entries, extract
        assert not result.placement.other_courses, extract
        assert [o.status for o in result.outcomes] == [Status.LOADED] * len(result.outcomes)
        assert all(o.rows_quarantined == 0 for o in result.outcomes), extract
        placed[result.family.spine] += result.placement.placed
        for resource, use in result.placement.programs.items():
            assert not use.unplaced, (resource, result.school_year)
            placed[resource] += use.applied
    assert placed == {resource: len(records[resource]) for resource in placed}
    assert all(placed[resource] for resource in PROGRAM_OF_FLAG.values())  # half of them


def build_marts(warehouse_dir: Path) -> None:
    settings = replace(get_settings(), warehouse_dir=warehouse_dir)
    dbt_dirs = ("--target-path", str(warehouse_dir / "target"), "--log-path", str(warehouse_dir))
    run_dbt(settings, "seed", "--quiet", *dbt_dirs)
    run_dbt(settings, "run", "--quiet", *dbt_dirs)


@dataclass
class Warehouses:
    csv: Path  # every family from the landed files
    edfi: Path  # the four Ed-Fi families pulled, the others from the same files


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> Warehouses:
    root = tmp_path_factory.mktemp("edfi_equivalence")
    sample = root / "sample" / "landing"
    generate(SCALE, YEARS, SEED, sample)

    csv_dir = root / "csv"
    csv_dir.mkdir()
    load_files(csv_dir / "cte.duckdb", sample)
    build_marts(csv_dir)

    edfi_dir = root / "edfi"
    landing = edfi_dir / "landing"
    without_edfi_families(sample, landing)
    load_files(edfi_dir / "cte.duckdb", landing)
    records, years = ods_records(sample)
    with duckdb.connect(str(edfi_dir / "cte.duckdb")) as con:
        check_pulls(pull_every_year(con, landing, records, years), records)
    build_marts(edfi_dir)
    return Warehouses(csv_dir / "cte.duckdb", edfi_dir / "cte.duckdb")


# --- comparing the marts -----------------------------------------------------------------


# Exact: every float too. The marts' sums of doubles are order-independent (decision 0035),
# so two builds of the same students agree to the last bit whichever door they came through.


@dataclass
class TableComparison:
    table: str
    columns: int
    rows_csv: int
    rows_edfi: int
    matched_rows: int  # rows with an identical row (every column) in the other warehouse
    only_csv: list[tuple] = field(default_factory=list)  # unpaired rows, the first few
    only_edfi: list[tuple] = field(default_factory=list)

    @property
    def cells_compared(self) -> int:
        return max(self.rows_csv, self.rows_edfi) * self.columns

    @property
    def cells_equal(self) -> int:
        """Cells of rows with an identical row in the other warehouse."""
        return self.matched_rows * self.columns

    @property
    def equal(self) -> bool:
        return self.rows_csv == self.rows_edfi == self.matched_rows

    def describe(self) -> str:
        text = (
            f"{self.table}: {self.rows_csv} rows (CSV) / {self.rows_edfi} (Ed-Fi) x "
            f"{self.columns} columns, {self.cells_equal}/{self.cells_compared} cells equal"
        )
        for side, rows in (("only CSV", self.only_csv), ("only Ed-Fi", self.only_edfi)):
            text += "".join(f"\n    {side}: {row}" for row in rows)
        return text


def mart_tables(con: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    return [
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = ? and table_schema = 'marts' order by table_name",
            [catalog],
        ).fetchall()
    ]


def columns_of(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f"describe select * from {relation}").fetchall()]


def unmatched(con: duckdb.DuckDBPyConnection, left: str, right: str, name: str) -> int:
    """Rows of ``left`` without an identical row of ``right`` (a multiset difference: NULLs
    equal NULLs, floats exactly), kept as the temporary table ``name``; their count."""
    con.execute(
        f"create or replace temp table {name} as select *, row_number() over () as _row "
        f"from (select * from {left} except all select * from {right})"
    )
    return con.execute(f"select count(*) from {name}").fetchone()[0]


def shown(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple]:
    return con.execute(
        f"select * exclude (_row) from {name} order by all limit {SHOWN_ROWS}"
    ).fetchall()


def compare(con: duckdb.DuckDBPyConnection, name: str, csv: str, edfi: str) -> TableComparison:
    """The relation ``csv`` (of the CSV warehouse) against ``edfi``, on all their columns."""
    columns = columns_of(con, csv)
    assert columns_of(con, edfi) == columns, f"{name}: the columns differ"
    rows_csv = con.execute(f"select count(*) from {csv}").fetchone()[0]
    rows_edfi = con.execute(f"select count(*) from {edfi}").fetchone()[0]
    missing = unmatched(con, csv, edfi, "only_csv")
    unmatched(con, edfi, csv, "only_edfi")
    comparison = TableComparison(name, len(columns), rows_csv, rows_edfi, rows_csv - missing)
    if not comparison.equal:
        comparison.only_csv, comparison.only_edfi = shown(con, "only_csv"), shown(con, "only_edfi")
    return comparison


@pytest.fixture(scope="module")
def both(warehouses: Warehouses) -> Iterator[duckdb.DuckDBPyConnection]:
    """One connection to both warehouses, read-only: catalogs ``csv`` and ``edfi``."""
    con = duckdb.connect()
    con.execute(f"attach '{warehouses.csv}' as csv (read_only)")
    con.execute(f"attach '{warehouses.edfi}' as edfi (read_only)")
    yield con
    con.close()


@pytest.fixture(scope="module")
def comparisons(both: duckdb.DuckDBPyConnection) -> list[TableComparison]:
    tables = mart_tables(both, "csv")
    assert mart_tables(both, "edfi") == tables
    return [compare(both, table, f"csv.marts.{table}", f"edfi.marts.{table}") for table in tables]


def test_marts_from_the_edfi_pull_equal_the_marts_from_the_csv_extracts(
    comparisons: list[TableComparison],
) -> None:
    report = "\n".join(c.describe() for c in comparisons)
    compared = sum(c.cells_compared for c in comparisons)
    equal = sum(c.cells_equal for c in comparisons)
    print(f"\n{len(comparisons)} mart tables, {compared} cells compared: {equal} equal\n{report}")
    assert all(c.rows_csv > 0 for c in comparisons), report  # no comparison of empty tables
    assert all(c.equal for c in comparisons), report


# Contract columns the pull does not carry (decision 0022): always empty in its submissions.
# Staging takes a credential's name and issuer from the credentials seed when the file has
# none, and no mart reads them. (Names and birth dates are dropped at load from either door.)
NOT_PULLED = {"credential_attainment": ("credential_name", "issuer")}


def pulled_columns(extract_name: str) -> list[str]:
    stored = get_extract(extract_name).stored_columns
    return [c.name for c in stored if c.name not in NOT_PULLED.get(extract_name, ())]


@pytest.mark.parametrize("extract_name", EDFI_EXTRACTS)
def test_the_pulled_raw_rows_equal_the_loaded_ones(
    both: duckdb.DuckDBPyConnection, extract_name: str
) -> None:
    """Upstream of the marts: the four families' raw rows, every stored contract column
    but those the pull does not carry (NOT_PULLED); the lineage columns (manifest id,
    source row) name another file by nature."""
    columns = ", ".join(pulled_columns(extract_name))
    table = f"raw.{extract_name}"
    comparison = compare(
        both,
        table,
        f"(select {columns} from csv.{table})",
        f"(select {columns} from edfi.{table})",
    )
    print(f"\n{comparison.describe()}")
    assert comparison.rows_csv > 0 and comparison.equal, comparison.describe()
    for column in NOT_PULLED.get(extract_name, ()):
        filled = f"select count({column}) from edfi.{table}"
        assert both.execute(filled).fetchone() == (0,), column


def test_the_comparison_sees_one_changed_cell_and_the_last_bit_of_a_float() -> None:
    con = duckdb.connect()
    for catalog in ("csv", "edfi"):
        con.execute(f"attach ':memory:' as {catalog}")
        con.execute(f"create table {catalog}.main.t (code varchar, n integer, share double)")
    sum_of_tenths = "0.1::double + 0.2::double"  # 0.30000000000000004
    con.execute(
        f"insert into csv.main.t values ('a', 1, {sum_of_tenths}), ('b', 2, 1.0), (null, 3, 2.0)"
    )
    con.execute("insert into edfi.main.t values ('a', 1, 0.3), ('b', 2, 1.0), (null, 3, 2.0)")
    last_bit = compare(con, "t", "csv.main.t", "edfi.main.t")
    assert not last_bit.equal and last_bit.cells_equal == last_bit.cells_compared - 3 == 6
    assert last_bit.only_csv == [("a", 1, 0.1 + 0.2)]

    con.execute(f"update edfi.main.t set share = {sum_of_tenths} where code = 'a'")
    assert compare(con, "t", "csv.main.t", "edfi.main.t").equal
    con.execute("update edfi.main.t set n = 4 where code = 'b'")
    changed = compare(con, "t", "csv.main.t", "edfi.main.t")
    assert not changed.equal
    assert (changed.only_csv, changed.only_edfi) == ([("b", 2, 1.0)], [("b", 4, 1.0)])
