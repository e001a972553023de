"""Reason codes: the one vocabulary shared by the manifest, the quarantine, the Great
Expectations suites (``meta.reason_code``), the PED report and the tests."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    LOADED = "LOADED"
    REJECTED = "REJECTED"  # file-level error: nothing from the file is loaded
    DUPLICATE = "DUPLICATE"  # same bytes (SHA-256) as a file already recorded
    SUPERSEDED = "SUPERSEDED"  # replaced by a later submission for the same slice
    # Read and stored, not current: the slice's previous submission stays current until a
    # reviewer releases (-> LOADED) or rejects (-> REJECTED, REVIEW_REJECTED) this one.
    HELD = "HELD"


class FileReason(StrEnum):
    """Why a whole file was rejected (or not loaded)."""

    BAD_FILE_NAME = "BAD_FILE_NAME"
    ZERO_BYTE = "ZERO_BYTE"
    EMPTY_FILE = "EMPTY_FILE"  # a header and no data rows
    NOT_CSV = "NOT_CSV"  # binary content behind a .csv name
    UNREADABLE = "UNREADABLE"  # compressed, Parquet or workbook that cannot be opened
    TOO_LARGE = "TOO_LARGE"  # a .csv.gz past the size or ratio limit (a decompression bomb)
    BAD_QUOTING = "BAD_QUOTING"  # an unbalanced quote: the rest of the file is one value
    WRONG_DELIMITER = "WRONG_DELIMITER"
    MISSING_COLUMNS = "MISSING_COLUMNS"  # required columns missing or renamed
    DUPLICATE_COLUMNS = "DUPLICATE_COLUMNS"  # two header names alike (case-insensitively)
    UNSUPPORTED_TYPE = "UNSUPPORTED_TYPE"  # a Parquet column of lists or records
    NO_PSEUDONYM_KEY = "NO_PSEUDONYM_KEY"  # not the generated sample, and no key is set
    DUPLICATE_FILE = "DUPLICATE_FILE"
    STALE_SUBMISSION = "STALE_SUBMISSION"  # an earlier timestamp than the loaded submission
    REVIEW_REJECTED = "REVIEW_REJECTED"  # held, then rejected by a reviewer (cte review)


class HoldReason(StrEnum):
    """Why a readable submission was held instead of becoming current (ingest/hold.py)."""

    SET_ASIDE_SHARE = "SET_ASIDE_SHARE"  # too many rows quarantined
    BLOCKING_CHECK = "BLOCKING_CHECK"  # an ERROR expectation failed beyond its mostly
    VOLUME_DROP = "VOLUME_DROP"  # far fewer rows than the district's previous submission
    LOST_LEADING_ZEROS = "LOST_LEADING_ZEROS"  # codes re-saved as numbers (Excel), padded
    AREA_KIND = "AREA_KIND"  # labor-market areas that do not fit the release kind in the name


class RowReason(StrEnum):
    """Why a row was quarantined. The loader owns structure; the suites own values."""

    # structure (loader)
    TYPE_MISMATCH = "TYPE_MISMATCH"
    TRUNCATED_ROW = "TRUNCATED_ROW"
    FIELD_COUNT = "FIELD_COUNT"  # more or fewer fields than the header: values shifted
    DISTRICT_MISMATCH = "DISTRICT_MISMATCH"
    YEAR_MISMATCH = "YEAR_MISMATCH"
    DUPLICATE_ROW = "DUPLICATE_ROW"
    DUPLICATE_KEY = "DUPLICATE_KEY"
    INVALID_STUDENT_ID = "INVALID_STUDENT_ID"
    # values (Great Expectations, ERROR severity)
    MISSING_VALUE = "MISSING_VALUE"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    UNKNOWN_CODE = "UNKNOWN_CODE"
    FUTURE_DATE = "FUTURE_DATE"
    INCONSISTENT = "INCONSISTENT"
