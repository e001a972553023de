"""Bad input the loader must survive (extracts.md, "Bad input"), each in its own file.

Every defect starts from a clean tiny district-001 slice of the generator's own output and
changes one thing, so a test can expect exactly one status and reason per file. The files
go into a landing-shaped tree (DIR/<family>/<extract>/<file>) with distinct submission
timestamps, and DIR/defects.json lists what each file should produce.

bad_rows counts the rows that carry the defect: for duplicate rows the extra copies, for
duplicate keys every row of a conflicting key (the original and its changed copy). A file
whose bad rows are set aside beyond the hold share (about 10% here) is expected HELD: read
and stored, not current (ingest/hold.py).
"""

from __future__ import annotations

import io
import json
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from dagster_project.contracts import get_extract
from dagster_project.ingest.landing import file_name, landing_path
from dagster_project.ingest.reasons import FileReason, RowReason, Status
from dagster_project.ingest.sample import register_sample_files
from dagster_project.sample_data.generator import generate

DISTRICT, YEAR = "001", 2025
# After every clean submission of the year (finance files arrive in October), so each defect
# file is a resubmission of its slice rather than a stale one.
FIRST_SUBMISSION = datetime(2026, 1, 5, 9, 0, 0)
UNKNOWN_COURSE = "9999"


@dataclass(frozen=True)
class Defect:
    name: str
    extract: str
    status: Status
    reason: FileReason | RowReason | None
    column: str | None
    build: Callable[[Slice], tuple[bytes, int | None]]  # file bytes, bad rows
    severity: str | None = None  # ERROR (quarantined) or WARN (loaded, reported)


class Slice:
    """The clean files of one district and year, read as text."""

    def __init__(self, landing: Path, seed: int) -> None:
        self.landing = landing
        self.seed = seed

    def path(self, extract: str) -> Path:
        folder = landing_path(self.landing, get_extract(extract))
        return next(folder.glob(f"{extract}__{DISTRICT}__{YEAR}__*.csv"))

    def raw(self, extract: str) -> bytes:
        return self.path(extract).read_bytes()

    def frame(self, extract: str) -> pl.DataFrame:
        return pl.read_csv(self.path(extract), infer_schema=False)

    def rows(self, frame: pl.DataFrame, salt: int, where: pl.Series | None = None) -> np.ndarray:
        """About 10% of the (eligible) rows, at least 3, chosen reproducibly."""
        eligible = (
            np.flatnonzero(where.to_numpy()) if where is not None else np.arange(frame.height)
        )
        n = min(eligible.size, max(3, round(0.1 * frame.height)))
        rng = np.random.default_rng([self.seed, salt])
        return np.sort(rng.choice(eligible, size=n, replace=False))


def _csv(frame: pl.DataFrame, separator: str = ",") -> bytes:
    return frame.write_csv(separator=separator).encode("utf-8")


def _set(frame: pl.DataFrame, rows: np.ndarray, column: str, value: str) -> pl.DataFrame:
    mask = np.zeros(frame.height, dtype=bool)
    mask[rows] = True
    return frame.with_columns(
        pl.when(pl.Series(mask)).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )


def _value(extract: str, column: str, value: str, salt: int, only: str | None = None):
    """A builder that sets `column` to `value` in ~10% of the rows (optionally of a subset)."""

    def build(s: Slice) -> tuple[bytes, int]:
        f = s.frame(extract)
        where = None
        if only == "has_exit":
            where = f["exit_date"].is_not_null()
        elif only == "continuing":
            where = f["exit_code"] == "CONTINUING"
        rows = s.rows(f, salt, where)
        return _csv(_set(f, rows, column, value)), int(rows.size)

    return build


def _drop_column(s: Slice) -> tuple[bytes, None]:
    return _csv(s.frame("student_enrollment").drop("sex")), None


def _rename_column(s: Slice) -> tuple[bytes, None]:
    return _csv(s.frame("cte_course_enrollment").rename({"course_code": "course"})), None


def _semicolons(s: Slice) -> tuple[bytes, None]:
    return _csv(s.frame("assessment_results"), separator=";"), None


def _header_only(s: Slice) -> tuple[bytes, None]:
    return s.raw("credential_attainment").split(b"\n", 1)[0] + b"\n", None


def _png(_: Slice) -> tuple[bytes, None]:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1 grayscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    ), None


def _zip(s: Slice) -> tuple[bytes, None]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("school_expenditures.csv", date_time=(YEAR, 10, 15, 10, 30, 0))
        z.writestr(info, s.raw("school_expenditures"))
    return buffer.getvalue(), None


def _extra_columns(s: Slice) -> tuple[bytes, None]:
    f = s.frame("student_enrollment")
    f = f.with_columns(pl.lit("").alias("counselor_note"), pl.lit("2025").alias("snapshot"))
    return _csv(f), None


def _bom(s: Slice) -> tuple[bytes, None]:
    return b"\xef\xbb\xbf" + s.raw("cte_course_enrollment"), None


def _latin1_credentials(s: Slice) -> tuple[bytes, int]:
    f = s.frame("credential_attainment")
    rows = s.rows(f, 11)
    f = _set(f, rows, "credential_name", "Técnico en Enfermería (Auxiliar de Enfermería)")
    f = _set(f, rows, "issuer", "Colegio Comunitario de Española - Peñasco")
    return f.write_csv().encode("latin-1"), int(rows.size)


def _latin1_names(s: Slice) -> tuple[bytes, None]:
    # The generator's names already carry ñ and accents (Peña, Núñez, José ...).
    return s.raw("student_enrollment").decode("utf-8").encode("latin-1"), None


def _blank_lines(s: Slice) -> tuple[bytes, None]:
    lines = s.raw("assessment_results").split(b"\n")
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        if i and i % 7 == 0:
            out.append(b"")
    return b"\n".join(out) + b"\n\n", None


def _truncated(s: Slice) -> tuple[bytes, int]:
    body = s.raw("student_enrollment").rstrip(b"\n")
    last = body.rfind(b"\n")
    return body[: last + 1 + (len(body) - last) // 2], 1


def _duplicate_rows(s: Slice) -> tuple[bytes, int]:
    f = s.frame("cte_course_enrollment")
    rows = s.rows(f, 12)
    return _csv(pl.concat([f, f[rows]])), int(rows.size)


def _duplicate_keys(s: Slice) -> tuple[bytes, int]:
    f = s.frame("assessment_results")
    rows = s.rows(f, 13)
    changed = f[rows].with_columns(
        (pl.col("scale_score").cast(pl.Int64) + 17).cast(pl.String).alias("scale_score")
    )
    return _csv(pl.concat([f, changed])), 2 * int(rows.size)


def _invalid_ids(s: Slice) -> tuple[bytes, int]:
    f = s.frame("cte_course_enrollment")
    rows = s.rows(f, 14)
    bad = np.array(["12345", "A12345678", "1234567890"])[np.arange(rows.size) % 3]
    values = f["student_id"].to_numpy().copy()
    values[rows] = bad
    return _csv(f.with_columns(pl.Series("student_id", values))), int(rows.size)


DEFECTS: tuple[Defect, ...] = (
    Defect(
        "missing_column",
        "student_enrollment",
        Status.REJECTED,
        FileReason.MISSING_COLUMNS,
        "sex",
        _drop_column,
    ),
    Defect(
        "renamed_column",
        "cte_course_enrollment",
        Status.REJECTED,
        FileReason.MISSING_COLUMNS,
        "course_code",
        _rename_column,
    ),
    Defect(
        "wrong_delimiter",
        "assessment_results",
        Status.REJECTED,
        FileReason.WRONG_DELIMITER,
        None,
        _semicolons,
    ),
    Defect(
        "zero_byte",
        "work_based_learning",
        Status.REJECTED,
        FileReason.ZERO_BYTE,
        None,
        lambda _: (b"", None),
    ),
    Defect(
        "header_only",
        "credential_attainment",
        Status.REJECTED,
        FileReason.EMPTY_FILE,
        None,
        _header_only,
    ),
    Defect(
        "png_named_csv", "program_quality_review", Status.REJECTED, FileReason.NOT_CSV, None, _png
    ),
    Defect("zip_named_csv", "school_expenditures", Status.REJECTED, FileReason.NOT_CSV, None, _zip),
    Defect("extra_columns", "student_enrollment", Status.LOADED, None, None, _extra_columns),
    Defect("utf8_bom", "cte_course_enrollment", Status.LOADED, None, None, _bom),
    Defect(
        "latin1_credentials",
        "credential_attainment",
        Status.LOADED,
        None,
        "credential_name",
        _latin1_credentials,
    ),
    Defect("latin1_names", "student_enrollment", Status.LOADED, None, None, _latin1_names),
    Defect("blank_lines", "assessment_results", Status.LOADED, None, None, _blank_lines),
    Defect(
        "truncated_last_line",
        "student_enrollment",
        Status.LOADED,
        RowReason.TRUNCATED_ROW,
        None,
        _truncated,
        "ERROR",
    ),
    Defect(
        "duplicate_rows",
        "cte_course_enrollment",
        Status.HELD,
        RowReason.DUPLICATE_ROW,
        None,
        _duplicate_rows,
        "ERROR",
    ),
    Defect(
        "duplicate_keys",
        "assessment_results",
        Status.HELD,
        RowReason.DUPLICATE_KEY,
        None,
        _duplicate_keys,
        "ERROR",
    ),
    Defect(
        "district_mismatch",
        "student_enrollment",
        Status.HELD,
        RowReason.DISTRICT_MISMATCH,
        "district_code",
        _value("student_enrollment", "district_code", "002", 15),
        "ERROR",
    ),
    Defect(
        "invalid_student_id",
        "cte_course_enrollment",
        Status.HELD,
        RowReason.INVALID_STUDENT_ID,
        "student_id",
        _invalid_ids,
        "ERROR",
    ),
    Defect(
        "grade_14",
        "student_enrollment",
        Status.HELD,
        RowReason.OUT_OF_RANGE,
        "grade_level",
        _value("student_enrollment", "grade_level", "14", 16),
        "ERROR",
    ),
    Defect(
        "negative_credits",
        "cte_course_enrollment",
        Status.HELD,
        RowReason.OUT_OF_RANGE,
        "credits_earned",
        _value("cte_course_enrollment", "credits_earned", "-1.0", 17),
        "ERROR",
    ),
    Defect(
        "future_exit_date",
        "student_enrollment",
        Status.HELD,
        RowReason.FUTURE_DATE,
        "exit_date",
        _value("student_enrollment", "exit_date", "2099-05-22", 18, only="has_exit"),
        "ERROR",
    ),
    Defect(
        "unknown_sex_code",
        "student_enrollment",
        Status.HELD,
        RowReason.UNKNOWN_CODE,
        "sex",
        _value("student_enrollment", "sex", "Q", 19),
        "ERROR",
    ),
    Defect(
        "exit_date_while_continuing",
        "student_enrollment",
        Status.HELD,
        RowReason.INCONSISTENT,
        "exit_date",
        _value("student_enrollment", "exit_date", "2025-03-14", 20, only="continuing"),
        "ERROR",
    ),
    Defect(
        "earned_date_outside_school_year",
        "credential_attainment",
        Status.HELD,
        RowReason.INCONSISTENT,
        "earned_date",
        _value("credential_attainment", "earned_date", "2023-03-15", 21),
        "ERROR",
    ),
    Defect(
        "unknown_course_code",
        "cte_course_enrollment",
        Status.LOADED,
        RowReason.UNKNOWN_CODE,
        "course_code",
        _value("cte_course_enrollment", "course_code", UNKNOWN_COURSE, 22),
        "WARN",
    ),
)


def write_defects(out_dir: Path, seed: int) -> list[dict[str, object]]:
    """Write every defect file under out_dir and out_dir/defects.json; return the list."""
    out_dir = Path(out_dir)
    entries: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        generate("tiny", 1, seed, landing, last_year=YEAR)
        clean = Slice(landing, seed)
        for i, defect in enumerate(DEFECTS):
            data, bad_rows = defect.build(clean)
            submitted = FIRST_SUBMISSION + timedelta(minutes=i)
            extract = get_extract(defect.extract)
            folder = landing_path(out_dir, extract)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / file_name(defect.extract, DISTRICT, YEAR, submitted)
            path.write_bytes(data)
            entries.append(
                {
                    "file": path.relative_to(out_dir).as_posix(),
                    "extract": defect.extract,
                    "defect": defect.name,
                    "expected_status": defect.status.value,
                    "expected_reason": defect.reason.value if defect.reason else None,
                    "column": defect.column,
                    "bad_rows": bad_rows,
                    "severity": defect.severity,
                }
            )
    (out_dir / "defects.json").write_text(json.dumps(entries, indent=2) + "\n")
    # Generated, so loadable without a key when written straight into a landing zone.
    register_sample_files(out_dir, [out_dir / e["file"] for e in entries])
    return entries
