"""The landing zone: file names, what they claim, and their fingerprints.

raw/landing/<family>/<extract>/<extract>__<district|state>__<year>__<yyyymmddThhmmss>.<ext>

A state-level extract may name other release kinds in place of ``state``
(``Extract.release_kinds``: OEWS ``metro`` and ``nonmetro`` workbooks), each its own slice.

PED's STARS CTE Student Industry Credential template is also accepted under its own name,
``<district>_CTE_INDUSTRY_CREDENTIAL_<yyyymmddhhmm>.csv`` (in the credential_attainment
folder). That name carries no school year: it is the one the timestamp falls in, counting
July to September with the year that just ended (end-of-year reporting) and October on with
the next (``stars_school_year``); rows of another year are set aside as for any file.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dagster_project.contracts import EXTRACTS, EXTRACTS_BY_NAME, Extract

STATE = "state"
_NAME = re.compile(
    r"^(?P<extract>[a-z_]+)__(?P<district>\d{3}|[a-z]+)__(?P<year>\d{4})__"
    r"(?P<ts>\d{8}T\d{6})(?P<ext>\.csv\.gz|\.csv|\.parquet|\.xlsx)$",
    re.IGNORECASE,
)


_STARS_CREDENTIAL_NAME = re.compile(
    r"^(?P<district>\d{3})_CTE_INDUSTRY_CREDENTIAL_(?P<ts>\d{12})(?P<ext>\.csv)$",
    re.IGNORECASE,
)
STARS_CREDENTIAL_EXTRACT = "credential_attainment"


class FileNameError(ValueError):
    """The file's name does not follow the landing-zone convention."""


@dataclass(frozen=True)
class LandedFile:
    path: Path
    extract: Extract
    district: str  # three digits, or "state" (or another of the extract's release kinds)
    year: int
    submitted_at: datetime
    suffix: str

    @property
    def slice_key(self) -> tuple[str, str, int]:
        """A resubmission replaces exactly this slice."""
        return (self.extract.name, self.district, self.year)


def file_name(extract: str, district: str, year: int, submitted_at: datetime, ext: str = ".csv"):
    return f"{extract}__{district}__{year}__{submitted_at:%Y%m%dT%H%M%S}{ext}"


def landing_path(landing_dir: Path, extract: Extract) -> Path:
    return landing_dir / extract.family.value / extract.name


def display_name(path: Path) -> str:
    """A path as text that can be stored and logged.

    A name that is not valid UTF-8 (a Latin-1 or cp1252 name from a Windows share) comes
    to Python with lone surrogates, which DuckDB, Dagster's tags and JSON refuse; the bytes
    that do not decode show as U+FFFD."""
    return os.fsencode(path).decode("utf-8", "replace")


def relative_name(path: Path, landing_dir: Path) -> str:
    """How the manifest names a landed file: its display name relative to the landing zone
    (the file's own path when it lies outside)."""
    try:
        return display_name(path.resolve().relative_to(landing_dir.resolve()))
    except ValueError:
        return display_name(path)


def is_valid_name(path: Path) -> bool:
    return display_name(path) == str(path)


def stars_school_year(submitted_at: datetime) -> int:
    """The school year (spring year) a STARS submission made at this time reports."""
    return submitted_at.year + (1 if submitted_at.month >= 10 else 0)


def _stars_credential_file(path: Path) -> LandedFile | None:
    m = _STARS_CREDENTIAL_NAME.match(path.name)
    if not m:
        return None
    submitted_at = datetime.strptime(m["ts"], "%Y%m%d%H%M")
    return LandedFile(
        path=path,
        extract=EXTRACTS_BY_NAME[STARS_CREDENTIAL_EXTRACT],
        district=m["district"],
        year=stars_school_year(submitted_at),
        submitted_at=submitted_at,
        suffix=m["ext"].lower(),
    )


def parse_file_name(path: Path) -> LandedFile:
    if not is_valid_name(Path(path.name)):
        raise FileNameError(
            f"{display_name(Path(path.name))}: the file name is not valid UTF-8 (the bytes "
            "shown as \ufffd); rename the file with plain letters, digits and underscores"
        )
    stars = _stars_credential_file(path)
    if stars is not None:
        return stars
    m = _NAME.match(path.name)
    if not m:
        raise FileNameError(
            f"{path.name}: expected <extract>__<district code or 'state'>__<year>__"
            "<yyyymmddThhmmss>.csv (or .csv.gz, .parquet, .xlsx)"
        )
    name = m["extract"].lower()
    extract = EXTRACTS_BY_NAME.get(name)
    if extract is None:
        raise FileNameError(f"{path.name}: unknown extract {name!r}")
    district = m["district"].lower()
    if extract.state_level != (district in extract.release_kinds) or (
        not extract.state_level and not district.isdigit()
    ):
        kinds = " or ".join(f"'{k}'" for k in extract.release_kinds)
        expected = kinds if extract.state_level else "a three-digit district code"
        raise FileNameError(f"{path.name}: {extract.name} files are named with {expected}")
    ext = m["ext"].lower()
    if ext not in extract.formats:
        raise FileNameError(f"{path.name}: {extract.name} does not accept {ext} files")
    return LandedFile(
        path=path,
        extract=extract,
        district=district,
        year=int(m["year"]),
        submitted_at=datetime.strptime(m["ts"], "%Y%m%dT%H%M%S"),
        suffix=ext,
    )


def list_landed(landing_dir: Path, extract: Extract) -> list[Path]:
    folder = landing_path(landing_dir, extract)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def landed_years(landing_dir: Path, extracts: Iterable[Extract] = EXTRACTS) -> set[int]:
    """The school years of the landed files of ``extracts`` named as the contract says."""
    years = set()
    for extract in extracts:
        for path in list_landed(landing_dir, extract):
            try:
                years.add(parse_file_name(path).year)
            except FileNameError:
                continue
    return years


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
