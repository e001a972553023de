"""The working warehouse (warehouse/cte.duckdb): connections and the tables ingest owns.

Schemas: ``raw`` (one table per extract, load_manifest, quarantine, row_warnings) is written
by ingest; ``audit`` (dq_results, run_alerts, actions) by the quality gate (quality/gate.py,
which declares dq_results), the run-failure sensor and the commands people run (``cte
review``, ``cte load --reload``, ``cte rollback``); dbt owns ``reference`` (seeds),
``staging``, ``intermediate`` and ``marts``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from dagster_project.contracts import EXTRACTS
from dagster_project.quality.gate import dq_results_ddl

_OPS_DDL = """
create schema if not exists raw;
create schema if not exists audit;
create sequence if not exists raw.manifest_id_seq start 1;
create table if not exists raw.load_manifest (
    manifest_id      bigint primary key default nextval('raw.manifest_id_seq'),
    path             varchar not null,
    file_name        varchar not null,
    sha256           varchar not null,
    extract          varchar,
    district_code    varchar,
    school_year      bigint,
    submitted_at     timestamp,
    file_bytes       bigint,
    encoding         varchar,
    rows_read        bigint,
    rows_loaded      bigint,
    rows_quarantined bigint,
    status           varchar not null,
    reason_code      varchar,
    error_message    varchar,
    notes            varchar,
    loaded_at        timestamp not null,
    run_id           varchar,
    key_fingerprint  varchar
);
-- Warehouses created before the column existed (decision 0012).
alter table raw.load_manifest add column if not exists key_fingerprint varchar;
-- A held submission's reasons, one [reason code, message] pair each, as JSON (decision 0016).
alter table raw.load_manifest add column if not exists holds varchar;
-- A submission an Ed-Fi pull derived (decision 0022): 'edfi', the resources it came from and
-- the change versions the pull read (no minimum: a full pull).
alter table raw.load_manifest add column if not exists source varchar;
alter table raw.load_manifest add column if not exists source_resources varchar;
alter table raw.load_manifest add column if not exists change_version_min bigint;
alter table raw.load_manifest add column if not exists change_version_max bigint;
-- One row per Ed-Fi pull: records read and deleted per resource, and what became of the
-- associations (placed in a district's submission, of another year, an earlier entry of a
-- student at the school, or unplaced: reasons).
create sequence if not exists raw.edfi_pull_id_seq start 1;
create table if not exists raw.edfi_pulls (
    pull_id            bigint primary key default nextval('raw.edfi_pull_id_seq'),
    extract            varchar not null,
    school_year        bigint not null,
    change_version_min bigint,
    change_version_max bigint not null,
    resources          varchar not null,
    associations       bigint not null,
    placed             bigint not null,
    other_years        bigint not null,
    earlier_entries    bigint not null,
    unplaced           bigint not null,
    unplaced_reasons   varchar,
    manifest_ids       bigint[] not null,
    run_id             varchar,
    pulled_at          timestamp not null
);
-- The pseudonym of a set-aside row's student, one row per quarantined row whose student ID
-- was well-formed (decision 0023): the report counts the students the errors cost.
create table if not exists raw.quarantined_students (
    manifest_id  bigint not null,
    source_row   bigint not null,
    student_key  varchar not null
);
create table if not exists raw.quarantine (
    manifest_id  bigint not null,
    source_row   bigint not null,
    column_name  varchar,
    reason_code  varchar not null,
    message      varchar not null,
    value        varchar
);
-- Rows that failed a warning (WARN) expectation: loaded, listed in the district's error file
-- (decision 0016). Same shape as the quarantine; not counted as set aside.
create table if not exists raw.row_warnings (
    manifest_id  bigint not null,
    source_row   bigint not null,
    column_name  varchar,
    reason_code  varchar not null,
    message      varchar not null,
    value        varchar
);
-- The audit trail (decision 0023): who reloaded, rolled back, released or rejected a held
-- submission, verified or certified a district-year, and when. Appended, never updated or
-- deleted; the two views below are the reviews' earlier tables, read as before.
create table if not exists audit.actions (
    action        varchar not null,
    actor         varchar not null,
    note          varchar,
    district_code varchar,
    school_year   bigint,
    extract       varchar,
    manifest_id   bigint,
    detail        varchar,
    run_id        varchar,
    acted_at      timestamp not null
);
create table if not exists audit.run_alerts (
    run_id      varchar not null,
    job_name    varchar,
    files       varchar,
    error       varchar,
    raised_at   timestamp not null
);
"""
# Once the earlier tables are folded into audit.actions (``_fold_review_tables``).
_VIEWS_DDL = """
create view if not exists audit.review_decisions as
    select manifest_id, action as decision, actor as reviewer, note, detail as replaced,
           acted_at as decided_at
    from audit.actions where action in ('RELEASE', 'REJECT');
create view if not exists audit.district_year_reviews as
    select district_code, school_year, action as step, actor as reviewer, note,
           acted_at as decided_at
    from audit.actions where action in ('VERIFY', 'CERTIFY');
"""
# A warehouse made before decision 0023 kept reviews in these tables: their rows move to
# audit.actions, in one transaction, and the names become views.
_FOLD = {
    "review_decisions": """
        select d.decision, d.reviewer, d.note, m.district_code, m.school_year, m.extract,
               d.manifest_id, d.replaced, null, d.decided_at
        from audit.review_decisions d left join raw.load_manifest m using (manifest_id)""",
    "district_year_reviews": """
        select step, reviewer, note, district_code, school_year, null, null, null, null,
               decided_at
        from audit.district_year_reviews""",
}


def _fold_review_tables(con: duckdb.DuckDBPyConnection) -> None:
    for name, rows in _FOLD.items():
        is_table = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'audit' "
            "and table_name = ? and table_type = 'BASE TABLE'",
            [name],
        ).fetchall()[0][0]
        if not is_table:
            continue
        con.execute("begin transaction")
        try:
            con.execute(f"insert into audit.actions {rows}")
            con.execute(f"drop table audit.{name}")
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise


def raw_table_ddl() -> str:
    statements = []
    for extract in EXTRACTS:
        cols = ",\n    ".join(f"{n} {t}" for n, t in extract.warehouse_columns().items())
        statements.append(f"create table if not exists raw.{extract.name} (\n    {cols}\n);")
    return "\n".join(statements)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every ingest-owned table, so dbt sources exist before the first file lands."""
    con.execute(_OPS_DDL)
    con.execute(dq_results_ddl())
    _fold_review_tables(con)
    con.execute(_VIEWS_DDL)
    con.execute(raw_table_ddl())


@contextmanager
def connect(
    path: Path, read_only: bool = False, wait_seconds: float = 60
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, waiting for another writer's lock rather than failing at once.

    Runs are serialized by the Dagster run queue; the wait covers the few cases outside it
    (a CLI command while a run finishes, the run-failure sensor).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        yield con
    finally:
        con.close()
