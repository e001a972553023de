"""The reference seeds (dbt/seeds/*.csv) the generator draws its schools, courses and
credentials from, so generated extracts always join to the reference data PED edits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from dagster_project.settings import REPO_ROOT

SEEDS_DIR = REPO_ROOT / "dbt" / "seeds"
SECONDARY_LEVELS = ("HIGH", "COMBINED")  # schools that enroll grades 9-12


@dataclass(frozen=True)
class Reference:
    schools: pl.DataFrame
    programs: pl.DataFrame
    courses: pl.DataFrame
    credentials: pl.DataFrame

    @property
    def clusters(self) -> list[str]:
        return sorted(self.programs["career_cluster"].unique().to_list())

    def program_index(self) -> dict[str, int]:
        return {code: i for i, code in enumerate(self.programs["program_of_study_code"])}

    def program_cluster_index(self) -> np.ndarray:
        """Cluster position (in ``clusters``) of every program, by program position."""
        pos = {c: i for i, c in enumerate(self.clusters)}
        return np.array([pos[c] for c in self.programs["career_cluster"]], dtype=np.int16)

    def course_table(self) -> np.ndarray:
        """course_code by [program, level]: level 0 is the middle-school exploratory course
        (empty when the program has none), levels 1-4 the high-school sequence."""
        table = np.full((self.programs.height, 5), "", dtype=object)
        index = self.program_index()
        for code, program in self.courses.select("course_code", "program_of_study_code").rows():
            table[index[program], int(code[-1])] = code
        return table


def _read(path: Path) -> pl.DataFrame:
    # Every column as text: codes keep their leading zeros.
    return pl.read_csv(path, infer_schema=False)


def load_reference(seeds_dir: Path = SEEDS_DIR) -> Reference:
    return Reference(
        schools=_read(seeds_dir / "schools.csv"),
        programs=_read(seeds_dir / "programs_of_study.csv"),
        courses=_read(seeds_dir / "courses.csv"),
        credentials=_read(seeds_dir / "credentials.csv").with_columns(pl.col("tier").cast(pl.Int8)),
    )
