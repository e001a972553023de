"""Postsecondary enrollment as the National Student Clearinghouse returns it: a StudentTracker
detail return (ingest/layouts.py reads it; decision 0021).

One row per enrollment period, the student's names and search date on each; a certificate
from a less-than-2-year school on a row of its own; a student sent but not found on one row
with no college. The Clearinghouse does not report apprenticeships: those stay in a
pre-shaped file of their own release kind.
"""

from __future__ import annotations

import polars as pl

DETAIL_COLUMNS = (
    "Your Unique Identifier",
    "First Name",
    "Middle Initial",
    "Last Name",
    "Name Suffix",
    "Requester Return Field",
    "Record Found Y/N",
    "Search Date",
    "College Code/Branch",
    "College Name",
    "College State",
    "2-year / 4-year",
    "Public / Private",
    "Enrollment Begin",
    "Enrollment End",
    "Enrollment Status",
    "Class Level",
    "Enrollment Major 1",
    "Enrollment CIP 1",
    "Enrollment Major 2",
    "Enrollment CIP 2",
    "Graduated?",
    "Graduation Date",
    "Degree Title",
    "Degree Major 1",
    "Degree CIP 1",
    "Degree Major 2",
    "Degree CIP 2",
    "Degree Major 3",
    "Degree CIP 3",
    "Degree Major 4",
    "Degree CIP 4",
    "College Sequence",
)
# The contract's institution_type as the Clearinghouse's 2-year / 4-year.
LEVELS = {"2YR": "2", "4YR": "4", "TECH": "L"}
NEIGHBOURS = ("TX", "AZ", "CO")  # where the out-of-state colleges are


def _yyyymmdd(column: str, days: int = 0) -> pl.Expr:
    return (pl.col(column) + pl.duration(days=days)).dt.strftime("%Y%m%d")


def _student(found: bool) -> list[pl.Expr]:
    return [
        pl.format("Q{}", pl.col("student_id")).alias("Your Unique Identifier"),
        pl.col("first_name").str.to_uppercase().alias("First Name"),
        pl.col("last_name").str.to_uppercase().alias("Last Name"),
        pl.col("student_id").alias("Requester Return Field"),
        pl.lit("Y" if found else "N").alias("Record Found Y/N"),
        _yyyymmdd("exit_date").alias("Search Date"),
    ]


def _college() -> list[pl.Expr]:
    state = pl.col("institution_id").str.slice(-1).cast(pl.Int32, strict=False).fill_null(0)
    return [
        pl.format("{}-00", pl.col("institution_id")).alias("College Code/Branch"),
        pl.format("COLLEGE {}", pl.col("institution_id")).alias("College Name"),
        pl.when(pl.col("in_state") == "Y")
        .then(pl.lit("NM"))
        .otherwise(pl.lit(list(NEIGHBOURS)).list.get(state % len(NEIGHBOURS)))
        .alias("College State"),
        pl.col("institution_type").replace_strict(LEVELS).alias("2-year / 4-year"),
        pl.lit("Public").alias("Public / Private"),
    ]


def detail_return(enrollments: pl.DataFrame, not_found: pl.DataFrame) -> pl.DataFrame:
    """The return's rows. ``enrollments``: the contract's columns (no apprenticeships) with
    term_start a date, plus first_name, last_name and exit_date; ``not_found``: student_id,
    first_name, last_name and exit_date of students sent who have no enrollment."""
    terms = enrollments.select(
        *_student(True),
        *_college(),
        _yyyymmdd("term_start").alias("Enrollment Begin"),
        _yyyymmdd("term_start", 110).alias("Enrollment End"),
        pl.lit("F").alias("Enrollment Status"),
        pl.lit("N").alias("Graduated?"),
    )
    certificates = enrollments.filter(pl.col("institution_type") == "TECH").select(
        *_student(True),
        *_college(),
        pl.lit("Y").alias("Graduated?"),
        _yyyymmdd("term_start", 120).alias("Graduation Date"),
        pl.lit("CERTIFICATE").alias("Degree Title"),
    )
    missing = not_found.select(*_student(False))
    frame = pl.concat([terms, certificates, missing], how="diagonal")
    frame = frame.with_columns(
        pl.lit(None, pl.String).alias(c) for c in DETAIL_COLUMNS if c not in frame.columns
    )
    return frame.select(DETAIL_COLUMNS).sort("Requester Return Field", maintain_order=True)
