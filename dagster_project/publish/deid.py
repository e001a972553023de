"""The last gate before a snapshot is swapped in: nothing that identifies a student.

Checks every table of the new snapshot file for columns named like an identifier, a name or
a birth date, and for text values that look like a hashed ID (64 hexadecimal characters,
the form of the HMAC-SHA256 pseudonym given at load). Findings name the table and column,
never a value.
"""

from __future__ import annotations

import re

import duckdb

from dagster_project.contracts import EXTRACTS, Pii
from dagster_project.publish.spec import quote_identifier as _quote

HASHED_ID = "[0-9a-fA-F]{64}"
# Names of people and birth dates, whatever the prefix (first_name, student_name, dob ...).
_PERSONAL = re.compile(
    r"(^|_)(first|last|middle|given|family|full|legal|preferred|student|person)_?name(s)?$"
    r"|birth|(^|_)dob($|_)|(^|_)ssn($|_)"
)
_STUDENT_KEY_TOKENS = {"id", "ids", "key", "keys", "identifier", "hash", "pseudonym"}


def _contract_personal_columns() -> set[str]:
    """Every column the raw contract marks as personal, so a new one is caught by name."""
    return {c.name for e in EXTRACTS for c in e.columns if c.pii in (Pii.STUDENT_ID, Pii.DROP)}


FORBIDDEN_COLUMNS = _contract_personal_columns() | {"student_id", "student_key"}


def is_forbidden_column(name: str) -> bool:
    lowered = name.lower()
    if lowered in FORBIDDEN_COLUMNS or _PERSONAL.search(lowered):
        return True
    tokens = [t for t in re.split(r"[^a-z0-9]+", lowered) if t]
    if any(t.startswith("student") and t[len("student") :] in _STUDENT_KEY_TOKENS for t in tokens):
        return True  # studentid, student_key as one token
    return any(t.startswith("student") for t in tokens) and any(
        t in _STUDENT_KEY_TOKENS for t in tokens
    )


def scan_for_identifiers(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Findings (table.column: why) in every table of the connected database; [] when clean."""
    findings = []
    columns = con.execute(
        "select table_schema, table_name, column_name, data_type "
        "from information_schema.columns order by table_schema, table_name, ordinal_position"
    ).fetchall()
    for schema, table, column, data_type in columns:
        where = f"{table}.{column}"
        if is_forbidden_column(column):
            findings.append(f"{where}: column name looks like a student identifier or PII")
        if "VARCHAR" in data_type.upper():
            # Lists and structs of text are scanned through their text form.
            value = _quote(column) if data_type.upper() == "VARCHAR" else f"{_quote(column)}::text"
            hits = con.execute(
                f"select count(*) from {_quote(schema)}.{_quote(table)} "
                f"where regexp_matches({value}, '{HASHED_ID}')"
            ).fetchone()[0]
            if hits:
                findings.append(f"{where}: {hits} value(s) look like a hashed ID (64 hex)")
    return findings
