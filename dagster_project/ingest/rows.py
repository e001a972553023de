"""Row-level structure: cast text to the contract's types and quarantine rows that cannot be
loaded as they are (wrong type, wrong district or year, duplicates, malformed student ID).

Value rules (ranges, code sets, cross-field) belong to the Great Expectations suites.
"""

from __future__ import annotations

import hashlib
import hmac

import polars as pl

from dagster_project.contracts import Column, Extract, Kind, Pii
from dagster_project.ingest.landing import LandedFile
from dagster_project.ingest.reader import SOURCE_ROW, ParsedFile
from dagster_project.ingest.reasons import RowReason
from dagster_project.privacy import MASK, shown_value_expr

__all__ = ["ISSUE_SCHEMA", "KEY_SCHEMA", "MASK", "Pseudonymizer", "prepare_rows", "student_keys"]
BLS_FLAGS = ("*", "**", "***", "#")
ISSUE_SCHEMA = {
    SOURCE_ROW: pl.Int64,
    "column_name": pl.String,
    "reason_code": pl.String,
    "message": pl.String,
    "value": pl.String,
}
# raw.quarantined_students: the pseudonym of a set-aside row's student (decision 0023).
KEY_SCHEMA = {SOURCE_ROW: pl.Int64, "student_key": pl.String}
STUDENT_ID_SHAPE = r"^\d{9}$"
_KIND_WORDS = {
    Kind.INT: "a whole number",
    Kind.DECIMAL: "a number",
    Kind.DATE: "a date (YYYY-MM-DD)",
    Kind.BLS_NUMBER: "a number or a BLS flag (*, **, #)",
}


class Pseudonymizer:
    """HMAC-SHA256 of student IDs, cached so a student seen in many files is hashed once."""

    def __init__(self, key: bytes):
        self._key = key
        self._cache: dict[str, str] = {}

    def __call__(self, ids: pl.Series) -> pl.Series:
        mapping = {}
        for student_id in ids.unique().drop_nulls().to_list():
            pseudonym = self._cache.get(student_id)
            if pseudonym is None:
                pseudonym = hmac.new(self._key, student_id.encode(), hashlib.sha256).hexdigest()
                self._cache[student_id] = pseudonym
            mapping[student_id] = pseudonym
        # Only this frame's IDs: the cache grows to every student of the state.
        return ids.replace_strict(mapping, default=None, return_dtype=pl.String)


def _cast(column: Column) -> pl.Expr:
    text = pl.col(column.name).str.strip_chars()
    match column.kind:
        case Kind.INT:
            return text.cast(pl.Int64, strict=False)
        case Kind.DECIMAL:
            return text.cast(pl.Decimal(18, 2), strict=False)
        case Kind.DATE:
            return pl.coalesce(
                text.str.to_date("%Y-%m-%d", strict=False),
                text.str.to_date("%m/%d/%Y", strict=False),
            )
        case Kind.BLS_NUMBER:
            return (
                pl.when(text.is_in(BLS_FLAGS))
                .then(None)
                .otherwise(text.str.replace_all(",", "").cast(pl.Float64, strict=False))
            )
        case _:
            return text


def _issues(
    rows: pl.DataFrame,
    column: str | None,
    reason: RowReason,
    message: pl.Expr,
    value: pl.Expr | None = None,
) -> pl.DataFrame:
    return rows.select(
        pl.col(SOURCE_ROW),
        pl.lit(column, dtype=pl.String).alias("column_name"),
        pl.lit(reason.value).alias("reason_code"),
        message.alias("message"),
        (value if value is not None else pl.lit(None, dtype=pl.String)).alias("value"),
    )


def _type_issues(extract: Extract, text: pl.DataFrame, typed: pl.DataFrame) -> list[pl.DataFrame]:
    found = []
    for column in extract.stored_columns:
        if column.kind not in _KIND_WORDS:
            continue
        given = pl.col(column.name).str.strip_chars()
        if column.kind is Kind.BLS_NUMBER:
            given = pl.when(given.is_in(BLS_FLAGS)).then(None).otherwise(given)
        bad = text.filter(given.ne("") & typed[column.name].is_null())
        if bad.height:
            words = _KIND_WORDS[column.kind]
            shown = shown_value_expr(column.name, pl.col(column.name))
            found.append(
                _issues(
                    bad,
                    column.name,
                    RowReason.TYPE_MISMATCH,
                    pl.format(
                        "{} must be {}; found '{}'", pl.lit(column.name), pl.lit(words), shown
                    ),
                    shown,
                )
            )
    return found


def _student_id_issues(text: pl.DataFrame) -> list[pl.DataFrame]:
    bad = text.filter(~pl.col("student_id").str.strip_chars().str.contains(STUDENT_ID_SHAPE))
    if not bad.height:
        return []
    return [
        _issues(
            bad,
            "student_id",
            RowReason.INVALID_STUDENT_ID,
            pl.lit("student_id must be exactly 9 digits (the state student ID)"),
            pl.lit(MASK),
        )
    ]


def _slice_issues(landed: LandedFile, typed: pl.DataFrame) -> list[pl.DataFrame]:
    extract, found = landed.extract, []
    if extract.district_column and not extract.state_level:
        col = extract.district_column
        bad = typed.filter(pl.col(col).is_not_null() & pl.col(col).ne(landed.district))
        if bad.height:
            found.append(
                _issues(
                    bad,
                    col,
                    RowReason.DISTRICT_MISMATCH,
                    pl.format(
                        "{} is {} but the file is named for district {}; rows for another "
                        "district belong in that district's file",
                        pl.lit(col),
                        shown_value_expr(col, pl.col(col)),
                        pl.lit(landed.district),
                    ),
                    shown_value_expr(col, pl.col(col)),
                )
            )
    if extract.year_column:
        col = extract.year_column
        bad = typed.filter(pl.col(col).is_not_null() & pl.col(col).ne(landed.year))
        if bad.height:
            found.append(
                _issues(
                    bad,
                    col,
                    RowReason.YEAR_MISMATCH,
                    pl.format(
                        "{} is {} but the file is named for {}",
                        pl.lit(col),
                        shown_value_expr(col, pl.col(col)),
                        pl.lit(str(landed.year)),
                    ),
                    shown_value_expr(col, pl.col(col)),
                )
            )
    return found


def _duplicate_issues(extract: Extract, text: pl.DataFrame) -> list[pl.DataFrame]:
    found = []
    columns = extract.column_names
    first = pl.col(SOURCE_ROW).min().over(columns)
    repeats = text.with_columns(first.alias("_first")).filter(
        pl.col(SOURCE_ROW) != pl.col("_first")
    )
    if repeats.height:
        found.append(
            _issues(
                repeats,
                None,
                RowReason.DUPLICATE_ROW,
                pl.format(
                    "this row repeats line {} exactly; the copy was not loaded", pl.col("_first")
                ),
            )
        )
    if extract.key:
        distinct = text.unique(subset=columns, keep="first")
        conflicting = distinct.filter(pl.len().over(list(extract.key)) > 1)
        if conflicting.height:
            key_words = ", ".join(extract.key)
            found.append(
                _issues(
                    conflicting,
                    ", ".join(extract.key),
                    RowReason.DUPLICATE_KEY,
                    pl.format(
                        "{} rows share the same {} but differ in other values; none of them "
                        "was loaded: send one row per {}",
                        pl.len().over(list(extract.key)).cast(pl.String),
                        pl.lit(key_words),
                        pl.lit(key_words),
                    ),
                )
            )
    return found


def _truncated_issues(parsed: ParsedFile) -> list[pl.DataFrame]:
    if not parsed.truncated_rows:
        return []
    rows = pl.DataFrame({SOURCE_ROW: parsed.truncated_rows}, schema={SOURCE_ROW: pl.Int64})
    return [
        _issues(
            rows,
            None,
            RowReason.TRUNCATED_ROW,
            pl.lit(
                "the last line is cut short (the file looks truncated); resend the complete file"
            ),
        )
    ]


def _ragged_issues(parsed: ParsedFile) -> list[pl.DataFrame]:
    if not parsed.ragged_rows:
        return []
    rows = pl.DataFrame(
        {SOURCE_ROW: list(parsed.ragged_rows), "_fields": list(parsed.ragged_rows.values())},
        schema={SOURCE_ROW: pl.Int64, "_fields": pl.Int64},
    )
    return [
        _issues(
            rows,
            None,
            RowReason.FIELD_COUNT,
            pl.format(
                "the row has {} fields but the header has {}: a value holds an unquoted comma "
                "or a field is missing, so the values are in the wrong columns",
                pl.col("_fields"),
                pl.lit(parsed.header_width),
            ),
        )
    ]


def prepare_rows(
    landed: LandedFile, parsed: ParsedFile, pseudonymize: Pseudonymizer
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed, pseudonymized rows that passed the structural rules, and the issues found.

    Returns (rows, issues); a row with any issue is not in ``rows``. Names and birth dates
    are dropped here and never leave this function.
    """
    extract, text = landed.extract, parsed.frame
    has_student_id = any(c.pii is Pii.STUDENT_ID for c in extract.columns)
    if has_student_id:
        # Full-width digits (an IME's "１２３") are the same ID: one student, one pseudonym.
        text = text.with_columns(pl.col("student_id").str.normalize("NFKC"))
    # A row with too many or too few fields has its values in the wrong columns (a name
    # where the district should be): quarantined whole, and no other rule looks at it, so
    # none of its values reaches a message.
    text = text.filter(~pl.col(SOURCE_ROW).is_in(list(parsed.ragged_rows)))
    typed = text.select(
        *(_cast(c).alias(c.name) for c in extract.stored_columns), pl.col(SOURCE_ROW)
    )
    found = (
        _truncated_issues(parsed)
        + _ragged_issues(parsed)
        + _type_issues(extract, text, typed)
        + _slice_issues(landed, typed)
        + _duplicate_issues(extract, text)
    )
    if has_student_id:
        found += _student_id_issues(text)
    issues = pl.concat(found) if found else pl.DataFrame(schema=ISSUE_SCHEMA)
    rows = typed.join(issues.select(SOURCE_ROW).unique(), on=SOURCE_ROW, how="anti")
    if has_student_id:
        rows = rows.with_columns(pseudonymize(rows["student_id"].str.strip_chars()))
    flags = [
        pl.when(pl.col(c.name).str.strip_chars().is_in(BLS_FLAGS))
        .then(pl.col(c.name).str.strip_chars())
        .alias(f"{c.name}_flag")
        for c in extract.stored_columns
        if c.kind is Kind.BLS_NUMBER
    ]
    if flags:
        rows = rows.join(text.select(SOURCE_ROW, *flags), on=SOURCE_ROW, how="left")
    return rows, issues


def student_keys(
    extract: Extract, parsed: ParsedFile, issues: pl.DataFrame, pseudonymize: Pseudonymizer
) -> pl.DataFrame:
    """The pseudonym of each set-aside row's student (KEY_SCHEMA), as ``prepare_rows`` makes
    it for a loaded row, where the row's student ID is well-formed. A row whose fields are
    shifted has none: what stands in its student_id column may be another value."""
    if not issues.height or not any(c.pii is Pii.STUDENT_ID for c in extract.columns):
        return pl.DataFrame(schema=KEY_SCHEMA)
    ids = (
        parsed.frame.join(issues.select(SOURCE_ROW).unique(), on=SOURCE_ROW, how="semi")
        .filter(~pl.col(SOURCE_ROW).is_in(list(parsed.ragged_rows)))
        .select(SOURCE_ROW, pl.col("student_id").str.normalize("NFKC").str.strip_chars())
        .filter(pl.col("student_id").str.contains(STUDENT_ID_SHAPE))
    )
    return ids.select(SOURCE_ROW, pseudonymize(ids["student_id"]).alias("student_key"))
