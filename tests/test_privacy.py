"""The one helper that decides what a message may repeat from a file (decision 0009)."""

from __future__ import annotations

import polars as pl
import pytest

from dagster_project.contracts import EXTRACTS, Pii
from dagster_project.privacy import (
    MASK,
    MAX_SHOWN,
    PERSONAL_COLUMNS,
    describe_error,
    scrub,
    shown_name,
    shown_value,
    shown_value_expr,
)


def test_personal_columns_are_the_contracts_pii_columns():
    marked = {c.name for e in EXTRACTS for c in e.columns if c.pii in (Pii.STUDENT_ID, Pii.DROP)}
    assert marked == PERSONAL_COLUMNS
    assert {"student_id", "first_name", "last_name", "birth_date"} <= PERSONAL_COLUMNS


@pytest.mark.parametrize("column", ["student_id", "first_name", "LAST_NAME", " birth_date "])
def test_a_personal_value_is_never_shown(column):
    assert shown_value(column, "Zephyrine") == MASK
    frame = pl.DataFrame({"v": ["Zephyrine", None]})
    shown = frame.with_columns(shown_value_expr(column, pl.col("v")).alias("shown"))
    assert shown["shown"].to_list() == [MASK] * 2


def test_other_values_are_cut_and_id_or_date_shapes_masked():
    assert shown_value("credits_earned", "lots") == "lots"
    assert len(shown_value("cohort_year", "9" * 10 + "x" * 5_000_000)) == MAX_SHOWN
    # a shifted row can put an ID or a birth date into any column
    assert shown_value("district_code", "918273645") == "***"
    assert shown_value("district_code", "９１８２７３６４５") == "***"
    assert shown_value("exit_date", "2007-03-14") == "***"
    values = pl.DataFrame({"v": ["002", "2007-03-14", "x" * 100, "918273645"]})
    shown = values.select(shown_value_expr("district_code", pl.col("v")))["v"].to_list()
    assert shown == ["002", "***", "x" * (MAX_SHOWN - 3) + "...", "***"]


def test_exceptions_are_named_not_quoted():
    error = ValueError("could not parse 'Zephyrine,918273645,2007-03-14'")
    assert describe_error(error) == "ValueError"


def test_free_text_is_scrubbed_and_cut():
    text = scrub("row 918273645 born 2007-03-14 " + "z" * 10_000, limit=100)
    assert "918273645" not in text and "2007-03-14" not in text and len(text) == 100


def test_names_are_made_printable_and_short():
    assert shown_name("café\x00\ud800" + "x" * 100).startswith("café??")
    assert len(shown_name("y" * 100)) == MAX_SHOWN
