"""Fixed-width codes that lost their leading zeros: padded back, and the cause named.

A spreadsheet (Excel, above all) reads ``001`` as the number 1 and writes ``1`` when the
file is saved again as CSV. For a digits-only code shorter than its width the intent is
unambiguous, so the value is padded and the file carries a note; the submission is still
held for a reviewer (ingest/hold.py), because a re-save may have changed other values too
(decision 0013). A student ID is never padded (a wrong guess links one student's records
to another's): its rows are set aside as invalid, and the note names the likely cause.
Codes with other characters (CIP ``47.06`` for ``47.0604``) are not guessed at either:
their format rule names the cause.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from dagster_project.contracts import Extract, Kind

EXCEL_ADVICE = (
    "the file was probably opened and saved in a spreadsheet, which stores codes as numbers: "
    "format these columns as Text before saving, or export the file again from the source "
    "system"
)


@dataclass(frozen=True)
class PaddedColumn:
    column: str
    width: int
    values: int  # how many values were short
    example: str | None  # "1 -> 001"; None for a personal column (student_id): not padded

    @property
    def padded(self) -> bool:
        return self.example is not None

    def sentence(self) -> str:
        if not self.padded:
            return (
                f"{self.column}: {self.values:,} value(s) are digits but shorter than "
                f"{self.width}, as if they had lost their leading zeros; not padded (an ID is "
                "never guessed), so those rows were set aside"
            )
        return (
            f"{self.column}: {self.values:,} value(s) had lost their leading zeros "
            f"(e.g. {self.example}) and were padded to {self.width} digits"
        )


def _short_digits(column: str, width: int) -> pl.Expr:
    text = pl.col(column).str.strip_chars()
    return text.str.contains(r"^\d+$") & (text.str.len_chars() < width)


def restore_leading_zeros(
    extract: Extract, frame: pl.DataFrame
) -> tuple[pl.DataFrame, list[PaddedColumn]]:
    """``frame`` (all text) with short digits-only codes padded, and the short codes found
    (padded, or for a personal column only counted)."""
    padded, fixes = [], []
    for column in extract.columns:
        if column.width is None or column.name not in frame.columns:
            continue
        short = _short_digits(column.name, column.width)
        found = frame.filter(short)
        if not found.height:
            continue
        if column.pii is not None:
            padded.append(PaddedColumn(column.name, column.width, found.height, None))
            continue
        value = found[column.name][0].strip()
        example = f"{value} -> {value.zfill(column.width)}"
        padded.append(PaddedColumn(column.name, column.width, found.height, example))
        fixes.append(
            pl.when(short)
            .then(pl.col(column.name).str.strip_chars().str.zfill(column.width))
            .otherwise(pl.col(column.name))
            .alias(column.name)
        )
    return (frame.with_columns(fixes) if fixes else frame), padded


def showable_columns(extract: Extract) -> set[str]:
    """Columns whose offending value may be shown to a district: codes, dates and numbers,
    never a personal column (student ID, names, birth date) nor free text."""
    return {c.name for c in extract.columns if c.pii is None and c.kind is not Kind.TEXT}
