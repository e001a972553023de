"""Writing extracts into the landing zone with the contract's names and columns."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import IO

import polars as pl

from dagster_project.contracts import get_extract
from dagster_project.ingest.landing import STATE, file_name, landing_path

# When each extract is submitted, relative to its year: fixed, so the same seed writes the
# same file names (school and fiscal years end June 30; labor-market data come later).
_SUBMITTED: dict[str, tuple[int, int, int, int]] = {  # years after, month, day, hour
    "student_enrollment": (0, 6, 15, 10),
    "cte_course_enrollment": (0, 6, 15, 10),
    "assessment_results": (0, 6, 15, 10),
    "program_quality_review": (0, 6, 15, 10),
    "credential_attainment": (0, 6, 30, 10),
    "work_based_learning": (0, 6, 30, 10),
    "school_expenditures": (0, 10, 15, 10),
    "grant_awards": (0, 8, 1, 9),
    "occupational_projections": (0, 9, 1, 8),
    "education_assignments": (0, 9, 5, 8),
    "oews_wages": (1, 3, 31, 8),
    "wage_records": (1, 2, 15, 9),
    "postsecondary_enrollment": (1, 1, 31, 9),
    "military_enlistment": (1, 3, 1, 9),
}


def submitted_at(extract: str, year: int) -> datetime:
    after, month, day, hour = _SUBMITTED[extract]
    return datetime(year + after, month, day, hour, 30)


class Landing:
    """Counts what it writes; state-level files can be appended to chunk by chunk."""

    def __init__(self, root: Path, years: range) -> None:
        self.root = root
        self.years = years  # state-level files exist only for the written years
        self.files: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()
        self._streams: dict[tuple[str, int, str], IO[bytes]] = {}
        self.written: set[Path] = set()  # registered as the sample once closed

    def path(self, extract: str, district: str, year: int, ext: str = ".csv") -> Path:
        folder = landing_path(self.root, get_extract(extract))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file_name(extract, district, year, submitted_at(extract, year), ext)
        self.written.add(path)
        return path

    def districts(self, extract: str, year: int, frame: pl.DataFrame | None) -> None:
        """One file per district; rows sorted by the extract's key for stable bytes."""
        if frame is None or not frame.height:
            return
        key = [k for k in get_extract(extract).key if k != "district_code"]
        frame = frame.sort(["district_code", *key], maintain_order=True)
        for (district,), part in frame.partition_by(
            "district_code", as_dict=True, maintain_order=True
        ).items():
            part.write_csv(self.path(extract, str(district), year))
            self.files[extract] += 1
            self.rows[extract] += part.height

    def stars_credentials(self, year: int, frame: pl.DataFrame | None) -> None:
        """One STARS CTE Student Industry Credential file per district, under the template's
        own name: its eight fields, CIP CODE as a number, no verified flag (a district
        reports the credentials it recorded; PED's list decides which count)."""
        if frame is None or not frame.height:
            return
        extract = "credential_attainment"
        folder = landing_path(self.root, get_extract(extract))
        folder.mkdir(parents=True, exist_ok=True)
        stamp = submitted_at(extract, year)
        template = frame.filter(pl.col("verified") == "Y").select(
            pl.col("district_code").alias("DISTRICT CODE"),
            pl.lit(f"{year}-06-30").alias("SCHOOL YEAR DATE"),
            pl.col("student_id").alias("STUDENT ID"),
            pl.col("location_code").alias("LOCATION CODE"),
            pl.col("cip_code").str.replace(".", "", literal=True).alias("CIP CODE"),
            pl.col("delivery_method").alias("DELIVERY METHOD CODE"),
            pl.col("credential_code").alias("INDUSTRY CREDENTIAL CODE"),
            pl.col("earned_date").cast(pl.String).alias("CREDENTIAL EARNED DATE"),
        )
        template = template.sort("DISTRICT CODE", "STUDENT ID", "INDUSTRY CREDENTIAL CODE")
        for (district,), part in template.partition_by(
            "DISTRICT CODE", as_dict=True, maintain_order=True
        ).items():
            path = folder / f"{district}_CTE_INDUSTRY_CREDENTIAL_{stamp:%Y%m%d%H%M}.csv"
            part.write_csv(path)
            self.written.add(path)
            self.files[extract] += 1
            self.rows[extract] += part.height

    def state(self, extract: str, year: int, frame: pl.DataFrame | None, kind: str = STATE) -> None:
        if frame is None or not frame.height:
            return
        frame.write_csv(self.path(extract, kind, year))
        self.files[extract] += 1
        self.rows[extract] += frame.height

    def record(self, extract: str, rows: int) -> None:
        """Count a file written by other means (the OEWS workbook)."""
        self.files[extract] += 1
        self.rows[extract] += rows

    def append(self, extract: str, year: int, frame: pl.DataFrame, kind: str = STATE) -> None:
        if not frame.height:
            return
        stream = self._streams.get((extract, year, kind))
        if stream is None:
            stream = self.path(extract, kind, year).open("wb")
            self._streams[(extract, year, kind)] = stream
            self.files[extract] += 1
        frame.write_csv(stream, include_header=stream.tell() == 0)
        self.rows[extract] += frame.height

    def close(self) -> None:
        for stream in self._streams.values():
            stream.close()
        self._streams.clear()
