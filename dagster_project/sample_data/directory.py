"""Scales, and the per-school traits the simulation needs (size, CTE intensity, programs
offered, spending level).

Traits are drawn once for the whole statewide directory from the seed, so a school has the
same traits at every scale; a scale only chooses which schools take part and how many
students each enrolls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from dagster_project.sample_data.reference import SECONDARY_LEVELS, Reference

# Statewide calibration: entering grade-9 cohort across all high schools, which after
# transfers and dropouts gives about 100,000 students in grades 9-12 a year.
STATE_GRADE9_COHORT = 28_000
# A CTE-heavy school's target share of students who concentrate; others draw from below.
HEAVY_INTENT = (0.42, 0.70)
OTHER_INTENT = (0.06, 0.30)
# Of the students who will concentrate, the share that has done so by each grade (9..12)
# across a school's enrolled grades: converts an intent share into a concentrator share.
CONCENTRATED_BY_GRADE_MEAN = 0.70


@dataclass(frozen=True)
class Scale:
    name: str
    # None = the whole directory; else district codes ("001") or single schools ("001-010").
    selection: tuple[str, ...] | None
    size_factor: float  # students per school relative to the statewide calibration
    description: str


SCALES: dict[str, Scale] = {
    s.name: s
    for s in (
        Scale(
            "tiny",
            ("001-010", "001-050", "001-235"),
            0.15,
            "District 001 only (two high schools, one middle school), a few hundred students.",
        ),
        Scale(
            "sample",
            (
                "001-010",
                "001-050",
                "001-080",
                "001-140",
                "001-235",
                "001-245",
                "017",
                "040",
                "069",
                "506",
            ),
            1.0,
            "Five districts: Albuquerque (incl. an innovation-zone school), a town, a rural "
            "alliance district, a rural 6-12 school and a charter.",
        ),
        Scale("state", None, 1.0, "The statewide directory: ~150 districts, ~250 high schools."),
        Scale("large", None, 10.0, "The statewide directory with ten times the students."),
    )
}


def _selected(schools: pl.DataFrame, selection: tuple[str, ...] | None) -> np.ndarray:
    if selection is None:
        return np.ones(schools.height, dtype=bool)
    keys = (schools["district_code"] + "-" + schools["location_code"]).to_numpy()
    districts = schools["district_code"].to_numpy()
    wanted = set(selection)
    return np.array([k in wanted or d in wanted for k, d in zip(keys, districts, strict=True)])


_SIZE = {  # relative grade-9 cohort by (level, locale); charters are smaller
    ("HIGH", "CITY"): 420,
    ("HIGH", "SUBURB"): 380,
    ("HIGH", "TOWN"): 190,
    ("HIGH", "RURAL"): 75,
    ("COMBINED", "CITY"): 90,
    ("COMBINED", "SUBURB"): 90,
    ("COMBINED", "TOWN"): 60,
    ("COMBINED", "RURAL"): 25,
}
_HEAVY_P = {"CITY": 0.30, "SUBURB": 0.30, "TOWN": 0.45, "RURAL": 0.55}
_CHARTER_THEMES = {
    "Health": ("NURS", "EMTS", "PHAR"),
    "Trades": ("WELD", "CNST", "ELEC", "AUTO"),
    "Arts and Design": ("DMED", "GRDS"),
    "Leadership": ("BUSM", "ENTR", "GOVT"),
    "Agriculture": ("AGSC", "ANSC", "PLNT"),
    "Cyber": ("CSCI", "NETW"),
    "Public Safety": ("LAWE", "FIRE", "EMTS"),
    "STEM": ("ENGR", "CSCI", "ENRG"),
    "Film": ("DMED", "GRDS"),
}
_RURAL_FAVORED = ("AGSC", "ANSC", "PLNT", "NATR", "WELD", "AUTO", "CNST", "CULN")
_CITY_FAVORED = ("CSCI", "NETW", "DMED", "NURS", "PHAR", "EMTS", "BUSM")


@dataclass(frozen=True)
class Directory:
    """Schools taking part at one scale, with their simulated traits (row-aligned)."""

    schools: pl.DataFrame  # the seed rows of the chosen schools
    secondary: np.ndarray  # bool: enrolls grades 9-12 (HIGH or COMBINED)
    combined: np.ndarray  # bool: COMBINED (grades 6-12 in one school)
    cohort_size: np.ndarray  # float: expected grade-9 cohort (secondary schools)
    intent: np.ndarray  # float: share of entering students who will concentrate
    heavy: np.ndarray  # bool: planted CTE-heavy school
    offered: np.ndarray  # int16 [school, slot]: programs offered, -1 padded
    spend_base: np.ndarray  # float: instructional dollars per student (last_year prices)
    quality: np.ndarray  # float: program-quality tendency
    grad_shift: np.ndarray  # float: school effect on graduation probability
    ai_share: np.ndarray  # float: American Indian share of the school's students

    @property
    def n(self) -> int:
        return self.schools.height

    def column(self, name: str) -> np.ndarray:
        return self.schools[name].to_numpy()


def _offerings(ref: Reference, rng: np.random.Generator) -> list[list[int]]:
    programs = ref.programs["program_of_study_code"].to_list()
    index = ref.program_index()
    clusters = ref.programs["career_cluster"].to_numpy()
    cluster_names = ref.clusters
    out: list[list[int]] = []
    for name, level, locale, region, iz, district in ref.schools.select(
        "school_name", "school_level", "locale", "cte_region", "innovation_zone", "district_code"
    ).rows():
        if level not in SECONDARY_LEVELS:
            out.append([])
            continue
        weights = np.ones(len(programs))
        favored = _RURAL_FAVORED if locale in ("RURAL", "TOWN") else _CITY_FAVORED
        weights[[index[p] for p in favored]] *= 3.0
        if region == "5":  # the Permian Basin: oil and gas
            weights[index["ENRG"]] *= 4.0
        theme = next((v for k, v in _CHARTER_THEMES.items() if k in name), None)
        if district >= "500":
            chosen = [index[p] for p in theme] if theme else []
            k = len(chosen) + int(rng.integers(1, 3))
        elif level == "HIGH" and locale in ("CITY", "SUBURB"):
            # Comprehensive urban high schools: a pathway in every cluster.
            chosen = [int(rng.choice(np.flatnonzero(clusters == c), p=None)) for c in cluster_names]
            k = len(chosen) + int(rng.integers(0, 5))
        elif level == "HIGH" and locale == "TOWN":
            chosen, k = [], int(rng.integers(6, 11))
        else:
            chosen, k = [], int(rng.integers(3, 7))
        if iz == "Y":
            k += 2
        remaining = np.setdiff1d(np.arange(len(programs)), chosen)
        extra = k - len(chosen)
        if extra > 0:
            w = weights[remaining] / weights[remaining].sum()
            picked = rng.choice(remaining, size=min(extra, len(remaining)), replace=False, p=w)
            chosen = [int(c) for c in chosen] + [int(c) for c in picked]
        out.append(sorted(chosen))
    return out


_AI_DISTRICTS = {  # American Indian share of students, by district name
    "Central Consolidated": 0.88,
    "Zuni": 0.96,
    "Dulce": 0.94,
    "Gallup-McKinley": 0.78,
    "Cuba": 0.60,
    "Jemez Valley": 0.65,
    "Jemez Mountain": 0.40,
    "Bernalillo": 0.40,
    "Grants-Cibola": 0.42,
    "Bloomfield": 0.33,
    "Farmington": 0.32,
    "Pojoaque Valley": 0.20,
    "Española": 0.10,
    "Albuquerque": 0.05,
    "Magdalena": 0.45,
    "Jemez Pueblo": 0.90,
}


def _ai_share(district_name: str, school_name: str) -> float:
    for key, share in _AI_DISTRICTS.items():
        if district_name.startswith(key) or school_name.startswith(key):
            return share
    return 0.03


def build_directory(ref: Reference, scale: Scale, seed: int) -> Directory:
    schools = ref.schools
    rng = np.random.default_rng([seed, 0, 1])
    level = schools["school_level"].to_numpy()
    locale = schools["locale"].to_numpy()
    district = schools["district_code"].to_numpy()
    secondary = np.isin(level, SECONDARY_LEVELS)
    charter = district >= "500"
    base = np.array(
        [_SIZE.get((lv, lc), 0.0) for lv, lc in zip(level, locale, strict=True)], dtype=float
    )
    base = np.where(charter & secondary, np.where(level == "HIGH", 70.0, 45.0), base)
    size = base * rng.lognormal(0.0, 0.3, schools.height)
    size *= STATE_GRADE9_COHORT / size[secondary].sum()

    iz = schools["innovation_zone"].to_numpy() == "Y"
    p_heavy = np.array([_HEAVY_P[lc] for lc in locale]) + 0.25 * iz
    heavy = secondary & (rng.random(schools.height) < p_heavy)
    intent = np.where(heavy, rng.uniform(*HEAVY_INTENT, schools.height), 0.0)
    intent = np.where(secondary & ~heavy, rng.uniform(*OTHER_INTENT, schools.height), intent)

    offerings = _offerings(ref, rng)
    width = max(len(o) for o in offerings)
    offered = np.full((schools.height, width), -1, dtype=np.int16)
    for i, o in enumerate(offerings):
        offered[i, : len(o)] = o

    spend_base = rng.normal(7_800.0, 900.0, schools.height)
    quality = rng.normal(0.0, 0.45, schools.height)
    grad_shift = rng.normal(0.0, 0.03, schools.height)
    ai = np.array(
        [_ai_share(d, s) for d, s in schools.select("district_name", "school_name").rows()]
    )

    keep = _selected(schools, scale.selection)
    return Directory(
        schools=schools.filter(pl.Series(keep)),
        secondary=secondary[keep],
        combined=(level == "COMBINED")[keep],
        cohort_size=size[keep] * scale.size_factor,
        intent=intent[keep],
        heavy=heavy[keep],
        offered=offered[keep],
        spend_base=spend_base[keep],
        quality=quality[keep],
        grad_shift=grad_shift[keep],
        ai_share=ai[keep],
    )
