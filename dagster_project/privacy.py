"""What a message may repeat from a landed file: the one place that decides (decision 0009).

Every sentence the pipeline writes about a file (manifest error and notes, quarantine message
and value, rename hints, log lines, run alerts, the PED report built from them) shows a
file's value only through this module:

- a value of a personal column (the contract's ``pii`` columns: student ID, names, birth
  date) is never shown, whatever it holds: ``MASK`` instead;
- any other value is cut to ``MAX_SHOWN`` characters, so one huge cell cannot become a
  huge page, and runs shaped like an ID or a date are masked in it;
- text that did not come from us (an exception's message from a parser or a database) is
  never shown: parsers quote the input they choke on, and polars quotes the rest of the
  file after an unbalanced quote. ``describe_error`` keeps the exception's type only.
"""

from __future__ import annotations

import re

import polars as pl

from dagster_project.contracts import EXTRACTS

MASK = "*** (personal value hidden)"
MAX_SHOWN = 40
_ELLIPSIS = "..."

# Every column any extract marks as personal: a name is personal in one extract is personal
# in all, so a shifted or mislabelled file cannot move a value out of this set.
PERSONAL_COLUMNS: frozenset[str] = frozenset(
    c.name for e in EXTRACTS for c in e.columns if c.pii is not None
)
# Shapes of personal values: 9 or more digits in a row (an ID, full-width digits included)
# and dates. Masked in other columns' values too: a row whose fields are shifted but whose
# count is right can put a student ID or birth date into, say, district_code. Names cannot
# be recognised, which is why parser messages are dropped rather than scrubbed.
ID_OR_DATE = r"\d{9,}|\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
_ID_OR_DATE = re.compile(ID_OR_DATE)
_HIDDEN = "***"


def is_personal(column: str | None) -> bool:
    return column is not None and column.strip().lower() in PERSONAL_COLUMNS


def truncate(text: str, limit: int = MAX_SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def shown_value(column: str | None, value: object) -> str:
    """A file's value as a message may show it."""
    if is_personal(column):
        return MASK
    return truncate(_ID_OR_DATE.sub(_HIDDEN, "" if value is None else str(value)))


def shown_value_expr(column: str | None, value: pl.Expr) -> pl.Expr:
    """``shown_value`` for a polars column of text."""
    if is_personal(column):
        return pl.lit(MASK, dtype=pl.String)
    text = value.cast(pl.String).str.replace_all(ID_OR_DATE, _HIDDEN)
    return (
        pl.when(text.str.len_chars() > MAX_SHOWN)
        .then(text.str.slice(0, MAX_SHOWN - len(_ELLIPSIS)) + pl.lit(_ELLIPSIS))
        .otherwise(text)
    )


def shown_name(name: str) -> str:
    """A header name or file name as a message may show it: printable, cut to length."""
    printable = "".join(ch if ch.isprintable() else "?" for ch in name)
    return truncate(printable.encode("utf-8", "replace").decode("utf-8", "replace"))


def describe_error(exc: BaseException) -> str:
    """An exception as a message may show it: its type, never its text."""
    return type(exc).__name__


def scrub(text: str, limit: int = 4000) -> str:
    """Free text from outside (a failed run's error): ID- and date-shaped runs masked, cut.

    A last line of defence for records the pipeline does not phrase itself; the pipeline's
    own errors are already free of file values (``describe_error``)."""
    return truncate(_ID_OR_DATE.sub(_HIDDEN, text), limit)
