"""Load landed files into the raw schema: one manifest row per file read, every row read
loaded or quarantined with a reason, each fit submission replacing exactly its slice.

Order of work for a set of files: name and fingerprint -> duplicate and stale checks ->
read (file-level rejection) -> leading zeros restored -> structural row rules -> Great
Expectations, once per (extract, year) batch -> fit or held (ingest/hold.py) -> one
transaction per batch (a fit file replaces its slice's rows; a held one is stored beside).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl

from dagster_project.contracts import EXTRACTS_BY_NAME, Extract
from dagster_project.ingest.codes import PaddedColumn, restore_leading_zeros, showable_columns
from dagster_project.ingest.hold import Counts, HoldRules, held_message, holds_for, supersede_slice
from dagster_project.ingest.landing import (
    FileNameError,
    LandedFile,
    display_name,
    parse_file_name,
    relative_name,
    sha256_of,
)
from dagster_project.ingest.reader import SOURCE_ROW, FileRejected, read_landed_file
from dagster_project.ingest.reasons import FileReason, Status
from dagster_project.ingest.rows import (
    ISSUE_SCHEMA,
    KEY_SCHEMA,
    Pseudonymizer,
    prepare_rows,
    student_keys,
)
from dagster_project.ingest.sample import sample_hashes
from dagster_project.privacy import describe_error, shown_value_expr
from dagster_project.quality.gate import holding_rules, record_results
from dagster_project.quality.validation import BatchResult, validate_batch
from dagster_project.settings import (
    DEVELOPMENT_PSEUDONYM_KEY,
    GzipLimits,
    is_development_key,
    key_fingerprint,
)

log = logging.getLogger(__name__)
DEVELOPMENT_KEY = DEVELOPMENT_PSEUDONYM_KEY.encode()


class PseudonymKeyMismatch(RuntimeError):
    """The key differs from the one the warehouse's earlier loads used: nothing is loaded."""


class LoadFailed(RuntimeError):
    """A batch failed past the per-file checks (validation or the write): nothing of it was
    written. The message names the exception's type only: its text may quote values."""


@dataclass
class FileOutcome:
    """What happened to one file: the row written to raw.load_manifest."""

    manifest_id: int
    path: str
    file_name: str
    sha256: str
    extract: str | None = None
    district_code: str | None = None
    school_year: int | None = None
    submitted_at: datetime | None = None
    file_bytes: int = 0
    encoding: str | None = None
    rows_read: int | None = None
    rows_loaded: int | None = None
    rows_quarantined: int | None = None
    status: Status = Status.REJECTED
    reason_code: str | None = None
    error_message: str | None = None
    notes: list[str] = field(default_factory=list)
    key_fingerprint: str | None = None
    holds: str | None = None  # JSON [[reason, message], ...] of a held file (decision 0016)


@dataclass
class _Pending:
    """A file that passed the file-level checks, waiting for validation and its write."""

    landed: LandedFile
    outcome: FileOutcome
    rows: pl.DataFrame
    issues: pl.DataFrame
    padded: list[PaddedColumn]
    blocking: list[str] = field(default_factory=list)  # failed ERROR rules' messages
    # Rows failing a WARN rule (ISSUE_SCHEMA): loaded all the same, listed in the error file.
    warnings: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ISSUE_SCHEMA))
    # The set-aside rows' student pseudonyms (KEY_SCHEMA), for the report's impact lines.
    keys: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=KEY_SCHEMA))


class Loader:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        landing_dir: Path,
        pseudonym_key: bytes,
        run_id: str | None = None,
        today: date | None = None,
        gzip_limits: GzipLimits | None = None,
        hold_rules: HoldRules | None = None,
    ):
        """``gzip_limits`` and ``hold_rules``: the settings' (the assets pass them); their
        defaults when not given. The loader reads no settings itself (decision 0034)."""
        self.con = con
        self.hold_rules = hold_rules or HoldRules()
        self.landing_dir = landing_dir
        self.run_id = run_id
        self.today = today or date.today()
        self.gzip_limits = gzip_limits or GzipLimits()
        self._pseudonymize = Pseudonymizer(pseudonym_key)
        self.key_fingerprint = key_fingerprint(pseudonym_key)
        # With the public development key only the generated sample may load (decision 0012).
        self._sample_only = is_development_key(pseudonym_key)
        self._sample = sample_hashes(landing_dir) if self._sample_only else frozenset()
        self.validations: list[BatchResult] = []  # sanitized, for Data Docs
        self.seconds: Counter[str] = Counter()  # time per phase, for the benchmark
        self.rows_validated = 0

    def load(
        self,
        paths: Iterable[Path],
        reload: bool = False,
        sha256s: Mapping[Path, str | None] | None = None,
    ) -> list[FileOutcome]:
        """Load files; ``reload`` re-reads files already recorded (same bytes) as new.
        ``sha256s``: the SHA-256 of files the caller has hashed already (each file is read
        once for its fingerprint; the others are hashed here)."""
        self._check_key()
        known = sha256s or {}
        outcomes: list[FileOutcome] = []
        batches: dict[tuple[str, int], list[LandedFile]] = defaultdict(list)
        seen: dict[str, FileOutcome] = {}
        for path in sorted(paths):
            outcome = self._new_outcome(path, known.get(path) or sha256_of(path))
            outcomes.append(outcome)
            landed = self._identify(path, outcome)
            if landed is None or not self._admitted(outcome):
                self._record(outcome)
                continue
            duplicate_of = seen.get(outcome.sha256) or (
                None if reload else self._recorded_sha(outcome.sha256)
            )
            if duplicate_of is not None:
                self._mark_duplicate(outcome, duplicate_of)
                continue
            seen[outcome.sha256] = outcome
            batches[(landed.extract.name, landed.year)].append(landed)
        by_path = {o.path: o for o in outcomes}
        for (extract_name, year), files in sorted(batches.items()):
            files.sort(key=lambda f: (f.district, f.submitted_at))
            try:
                self._load_batch(EXTRACTS_BY_NAME[extract_name], year, files, by_path)
            except Exception as exc:
                # `from None`: Dagster stores a chained exception's text and traceback too.
                raise LoadFailed(
                    f"{extract_name} {year}: the load failed ({describe_error(exc)}) after the "
                    f"files were read; nothing of this batch of {len(files)} file(s) was written"
                ) from None
        return outcomes

    # -- the pseudonym key --------------------------------------------------------------

    def _check_key(self) -> None:
        """Refuse a key other than the earlier loads': its pseudonyms would not link to
        theirs (a student's assessment rows would lose their enrollment)."""
        others = self.con.execute(
            "select key_fingerprint, count(*) from raw.load_manifest "
            "where status in ('LOADED', 'SUPERSEDED') and key_fingerprint <> ? group by 1",
            [self.key_fingerprint],
        ).fetchall()
        if not others:
            return
        theirs = ", ".join(f"{fp} ({n} file(s))" for fp, n in others)
        development = key_fingerprint(DEVELOPMENT_KEY)
        hint = (
            " The earlier loads used the public development key (CTE_PSEUDONYM_KEY unset): "
            "load real data into a new warehouse (CTE_WAREHOUSE_DIR)."
            if any(fp == development for fp, _ in others)
            else ""
        )
        raise PseudonymKeyMismatch(
            f"CTE_PSEUDONYM_KEY differs from the key this warehouse was loaded with (key "
            f"fingerprint {self.key_fingerprint}; earlier loads: {theirs}). Pseudonyms made "
            "with another key do not link to the loaded ones, so nothing was loaded: set the "
            f"warehouse's key and load again.{hint}"
        )

    def _admitted(self, outcome: FileOutcome) -> bool:
        if not self._sample_only or outcome.sha256 in self._sample:
            return True
        outcome.reason_code = FileReason.NO_PSEUDONYM_KEY
        outcome.error_message = (
            "CTE_PSEUDONYM_KEY is not set, and without it only the generated sample data loads "
            "(this file is not one the sample generator wrote): set a secret key, kept stable "
            "across years, and load again"
        )
        return False

    # -- identification -------------------------------------------------------------------

    def _new_outcome(self, path: Path, sha256: str) -> FileOutcome:
        manifest_id = self.con.execute("select nextval('raw.manifest_id_seq')").fetchall()[0][0]
        return FileOutcome(
            manifest_id=manifest_id,
            path=relative_name(path, self.landing_dir),
            file_name=display_name(Path(path.name)),
            sha256=sha256,
            file_bytes=path.stat().st_size,
        )

    def _identify(self, path: Path, outcome: FileOutcome) -> LandedFile | None:
        try:
            landed = parse_file_name(path)
        except FileNameError as exc:
            outcome.reason_code, outcome.error_message = FileReason.BAD_FILE_NAME, str(exc)
            return None
        outcome.extract = landed.extract.name
        outcome.district_code = landed.district
        outcome.school_year = landed.year
        outcome.submitted_at = landed.submitted_at
        return landed

    def _recorded_sha(self, sha256: str) -> FileOutcome | None:
        """The current or held file with these bytes. Bytes that were rejected are not
        received (renamed to the right name, they load); bytes since superseded, re-sent
        under a later name, are a new submission (a district going back to them)."""
        row = self.con.execute(
            "select manifest_id, file_name, status from raw.load_manifest "
            "where sha256 = ? and status in ('LOADED', 'HELD') order by manifest_id limit 1",
            [sha256],
        ).fetchall()
        if not row:
            return None
        manifest_id, name, status = row[0]
        return FileOutcome(manifest_id, "", name, sha256, status=Status(status))

    def _mark_duplicate(self, outcome: FileOutcome, original: FileOutcome) -> None:
        outcome.status, outcome.reason_code = Status.DUPLICATE, FileReason.DUPLICATE_FILE
        outcome.error_message = (
            f"same content (SHA-256) as {original.file_name} (manifest {original.manifest_id}, "
            f"{original.status.value}); not loaded again"
        )
        self._record(outcome)

    def _current_submission(self, landed: LandedFile) -> tuple[int, datetime] | None:
        """The slice's latest submission that is current or waiting for review."""
        row = self.con.execute(
            "select manifest_id, submitted_at from raw.load_manifest "
            "where status in ('LOADED', 'HELD') "
            "and extract = ? and district_code = ? and school_year = ? "
            "order by submitted_at desc limit 1",
            list(landed.slice_key),
        ).fetchall()
        return row[0] if row else None

    # -- reading and validation -----------------------------------------------------------

    def _load_batch(
        self, extract: Extract, year: int, files: list[LandedFile], by_path: dict[str, FileOutcome]
    ) -> None:
        pending: list[_Pending] = []
        for landed in files:
            outcome = by_path[relative_name(landed.path, self.landing_dir)]
            current = self._current_submission(landed)
            if current and current[1] > landed.submitted_at:
                outcome.status, outcome.reason_code = Status.SUPERSEDED, FileReason.STALE_SUBMISSION
                outcome.error_message = (
                    f"a later submission ({current[1]:%Y-%m-%d %H:%M:%S}, manifest {current[0]}) "
                    "is already loaded or held for this district and year; this earlier one was "
                    "not loaded"
                )
                self._record(outcome)
                continue
            item = self._read_one(landed, outcome, year)
            if item is None:
                self._record(outcome)
            else:
                pending.append(item)
        if not pending:
            return
        started = time.perf_counter()
        validation = validate_batch(
            extract, pl.concat([p.rows for p in pending], how="diagonal_relaxed"), year, self.today
        )
        failed, warned = validation.quarantine, validation.warnings
        self.seconds["validate"] += time.perf_counter() - started
        self.rows_validated += sum(p.rows.height for p in pending)
        started = time.perf_counter()
        holding = holding_rules(validation.results)
        for item in pending:
            item.blocking = holding.get(item.outcome.manifest_id, [])
            warnings = warned.filter(pl.col("_manifest_id") == item.outcome.manifest_id)
            if warnings.height:
                # Before the set-aside rows leave item.rows: a row may fail both kinds.
                item.warnings = _with_values(extract, item.rows, warnings).cast(ISSUE_SCHEMA)
            mine = failed.filter(pl.col("_manifest_id") == item.outcome.manifest_id)
            if mine.height:
                item.issues = pl.concat(
                    [item.issues, _with_values(extract, item.rows, mine).cast(ISSUE_SCHEMA)]
                )
                item.keys = pl.concat([item.keys, _keys_of(item.rows, mine)])
                item.rows = item.rows.join(
                    mine.select(SOURCE_ROW).unique(), on=SOURCE_ROW, how="anti"
                )
        self._write(extract, pending)
        record_results(self.con, validation.results, self.run_id)
        self.validations.append(validation)
        self.seconds["write"] += time.perf_counter() - started

    def _read_one(self, landed: LandedFile, outcome: FileOutcome, year: int) -> _Pending | None:
        """Read and check one file; None (the outcome says why) when it is rejected.

        Whatever goes wrong with one file rejects that file only: the rest of the batch
        loads. The reason never quotes the exception's text, which may hold the file's
        values (polars quotes the rest of the file after an unbalanced quote)."""
        started = time.perf_counter()
        try:
            parsed = read_landed_file(landed, self.gzip_limits)
            outcome.encoding, outcome.notes = parsed.encoding, parsed.notes
            outcome.rows_read = parsed.frame.height
            self.seconds["read"] += time.perf_counter() - started
            started = time.perf_counter()
            parsed.frame, padded = restore_leading_zeros(landed.extract, parsed.frame)
            outcome.notes += [p.sentence() for p in padded]
            rows, issues = prepare_rows(landed, parsed, self._pseudonymize)
            self.seconds["structure"] += time.perf_counter() - started
        except FileRejected as exc:
            outcome.reason_code, outcome.error_message = exc.reason, exc.message
            outcome.rows_read = None
            return None
        except Exception as exc:  # a file no rule foresaw: reject it, never crash the batch
            log.error("%s: unexpected %s while reading", outcome.file_name, describe_error(exc))
            outcome.reason_code = FileReason.UNREADABLE
            outcome.error_message = (
                f"the file could not be read ({describe_error(exc)}); check that it is a CSV "
                "export of the extract with a header row, and resend it"
            )
            outcome.rows_read = None
            return None
        lineage = {
            "_manifest_id": pl.lit(outcome.manifest_id, pl.Int64),
            "_file_year": pl.lit(year, pl.Int64),
        }
        keys = student_keys(landed.extract, parsed, issues, self._pseudonymize)
        return _Pending(landed, outcome, rows.with_columns(**lineage), issues, padded, keys=keys)

    # -- writing --------------------------------------------------------------------------

    def _write(self, extract: Extract, items: list[_Pending]) -> None:
        """A batch's files in one transaction: a commit and two inserts per file cost ~10 ms,
        most of a statewide ingest's write time (10,425 files). Each file is still recorded
        on its own, and a failure loads none of the batch (the run fails; nothing is lost)."""
        con = self.con
        con.execute("begin transaction")
        try:
            superseded: set[int] = set()
            for item in items:
                outcome = item.outcome
                # In file order, as if each were written alone: a later file of the same
                # district and year supersedes (or is held against) an earlier one of this
                # batch too.
                replaces = self._settle(item)
                previous = supersede_slice(
                    con, item.landed.slice_key, outcome.manifest_id, replaces
                )
                if previous:
                    outcome.notes.append(f"replaces manifest {', '.join(map(str, previous))}")
                    superseded.update(previous)
                self._record(outcome)
            kept = [i for i in items if i.outcome.manifest_id not in superseded]
            self._insert_rows(extract, kept)
            self._insert_issues(items)
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        for item in items:
            outcome = item.outcome
            log.info(
                "%s: %s rows read, %s loaded, %s quarantined",
                outcome.file_name,
                outcome.rows_read,
                outcome.rows_loaded,
                outcome.rows_quarantined,
            )

    def _settle(self, item: _Pending) -> list[Status]:
        """LOADED or HELD, with the reasons; returns the statuses this file supersedes."""
        outcome = item.outcome
        outcome.rows_loaded = item.rows.height
        outcome.rows_quarantined = item.issues[SOURCE_ROW].n_unique()
        counts = Counts(outcome.rows_read or 0, outcome.rows_loaded, outcome.rows_quarantined)
        rows = item.rows
        areas = (
            rows["area"].drop_nulls().unique().sort().to_list() if "area" in rows.columns else []
        )
        holds = holds_for(
            self.con,
            item.landed.slice_key,
            counts,
            item.blocking,
            item.padded,
            self.hold_rules,
            areas,
        )
        if not holds:
            outcome.status = Status.LOADED
            return [Status.LOADED, Status.HELD]
        outcome.status, outcome.reason_code = Status.HELD, holds[0].reason
        outcome.error_message = held_message(holds)
        outcome.holds = json.dumps([[str(h.reason), h.message] for h in holds])
        # The current submission stays; only the newest held file waits for a reviewer.
        return [Status.HELD]

    def _insert_rows(self, extract: Extract, items: list[_Pending]) -> None:
        if not items:
            return
        columns = list(extract.warehouse_columns())
        rows = pl.concat([i.rows.select(columns) for i in items], how="vertical_relaxed")
        self.con.register("incoming_rows", rows.to_arrow())
        try:
            self.con.execute(
                f"insert into raw.{extract.name} ({', '.join(columns)}) "
                f"select {', '.join(columns)} from incoming_rows"
            )
        finally:
            self.con.unregister("incoming_rows")

    def _insert_issues(self, items: list[_Pending]) -> None:
        for table, attribute in (("quarantine", "issues"), ("row_warnings", "warnings")):
            issues = pl.concat(
                [
                    getattr(i, attribute).with_columns(
                        manifest_id=pl.lit(i.outcome.manifest_id, pl.Int64)
                    )
                    for i in items
                ],
                how="vertical_relaxed",
            )
            if issues.is_empty():
                continue
            self.con.register("incoming_issues", issues.to_arrow())
            try:
                self.con.execute(
                    f"insert into raw.{table} select manifest_id, _source_row, column_name, "
                    "reason_code, message, value from incoming_issues"
                )
            finally:
                self.con.unregister("incoming_issues")
        keys = pl.concat(
            [
                i.keys.with_columns(manifest_id=pl.lit(i.outcome.manifest_id, pl.Int64))
                for i in items
            ]
        )
        if keys.height:
            self.con.register("incoming_keys", keys.to_arrow())
            try:
                self.con.execute(
                    "insert into raw.quarantined_students "
                    "select distinct manifest_id, _source_row, student_key from incoming_keys"
                )
            finally:
                self.con.unregister("incoming_keys")

    def _record(self, outcome: FileOutcome) -> None:
        if outcome.status in (Status.REJECTED, Status.HELD):
            log.warning(
                "%s %s: %s", outcome.file_name, outcome.status.lower(), outcome.error_message
            )
        self.con.execute(
            "insert into raw.load_manifest (manifest_id, path, file_name, sha256, extract, "
            "district_code, school_year, submitted_at, file_bytes, encoding, rows_read, "
            "rows_loaded, rows_quarantined, status, reason_code, error_message, notes, loaded_at, "
            "run_id, key_fingerprint, holds) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                outcome.manifest_id,
                outcome.path,
                outcome.file_name,
                outcome.sha256,
                outcome.extract,
                outcome.district_code,
                outcome.school_year,
                outcome.submitted_at,
                outcome.file_bytes,
                outcome.encoding,
                outcome.rows_read,
                outcome.rows_loaded,
                outcome.rows_quarantined,
                outcome.status.value,
                outcome.reason_code and str(outcome.reason_code),
                outcome.error_message,
                "; ".join(outcome.notes) or None,
                datetime.now(UTC).replace(tzinfo=None),
                self.run_id,
                self.key_fingerprint,
                outcome.holds,
            ],
        )


def _keys_of(rows: pl.DataFrame, failed: pl.DataFrame) -> pl.DataFrame:
    """The pseudonyms (loaded rows carry them as student_id) of the rows a rule set aside."""
    if "student_id" not in rows.columns:
        return pl.DataFrame(schema=KEY_SCHEMA)
    return (
        rows.join(failed.select(SOURCE_ROW).unique(), on=SOURCE_ROW, how="semi")
        .select(SOURCE_ROW, pl.col("student_id").alias("student_key"))
        .drop_nulls()
        .cast(KEY_SCHEMA)
    )


def _with_values(extract: Extract, rows: pl.DataFrame, failed: pl.DataFrame) -> pl.DataFrame:
    """Quarantine rows for failed expectations, with the offending value where a district
    may see it (codes, dates, numbers: ``showable_columns``, as ``shown_value`` shows it),
    else none."""
    columns = showable_columns(extract) & set(rows.columns) & set(failed["column_name"])
    issues = failed.select(SOURCE_ROW, "column_name", "reason_code", "message")
    if not columns:
        return issues.with_columns(pl.lit(None, pl.String).alias("value"))
    values = rows.select(
        pl.col(SOURCE_ROW), *(shown_value_expr(c, pl.col(c)).alias(c) for c in sorted(columns))
    ).unpivot(index=SOURCE_ROW, variable_name="column_name", value_name="value")
    return issues.join(values, on=[SOURCE_ROW, "column_name"], how="left")
