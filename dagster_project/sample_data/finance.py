"""School-site expenditures on the Uniform Chart of Accounts, and grant awards.

Instruction (fund 11000, function 1000) is generated from a per-student rate times the
school's enrollment in the written enrollment extract, so the LESC method (instructional
spending / enrollment) recovers the rate exactly; CTE-heavy high schools get the planted
uplift on top. Other funds and functions are there so a mart that forgets the fund or
function filter gets a visibly wrong answer.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from dagster_project.contracts import get_extract
from dagster_project.sample_data import effects
from dagster_project.sample_data.directory import Directory

PRICE_BASE_YEAR = 2024
INFLATION = 1.03
OPERATIONAL_FUND = "11000"
INSTRUCTION = "1000"
# Program dimension (synthetic codes): 1000 regular, 2000 special education, 3000 CTE,
# 0000 not program-specific.
INSTRUCTION_LINES = (  # (object, program_code, share of the instruction rate)
    ("51100", "1000", 0.50),
    ("51100", "2000", 0.08),
    ("51100", "3000", 0.05),
    ("51200", "1000", 0.04),
    ("51300", "1000", 0.03),
    ("52111", "1000", 0.09),
    ("52210", "1000", 0.05),
    ("52311", "1000", 0.10),
    ("53414", "1000", 0.02),
    ("56118", "1000", 0.03),
    ("56118", "3000", 0.01),
)
HEAVY_LINES = (  # where a CTE-heavy school's extra instruction goes
    ("51100", "3000", 0.6),
    ("52111", "3000", 0.1),
    ("56118", "3000", 0.2),
    ("56113", "3000", 0.1),
)
OTHER_LINES = (  # (fund, function, object, program_code, dollars per student)
    (OPERATIONAL_FUND, "2100", "51100", "0000", 420.0),
    (OPERATIONAL_FUND, "2100", "52111", "0000", 60.0),
    (OPERATIONAL_FUND, "2200", "51100", "0000", 260.0),
    (OPERATIONAL_FUND, "2400", "51100", "0000", 640.0),
    (OPERATIONAL_FUND, "2400", "52311", "0000", 110.0),
    (OPERATIONAL_FUND, "2600", "51100", "0000", 380.0),
    (OPERATIONAL_FUND, "2600", "54311", "0000", 210.0),
    (OPERATIONAL_FUND, "2600", "54411", "0000", 190.0),
    ("13000", "2700", "51100", "0000", 350.0),  # pupil transportation
    ("24101", "1000", "51100", "1000", 280.0),  # federal Title I
)
PERKINS_FUND, STATE_CTE_FUND = "24174", "27183"


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _split(total: int, lines: tuple[tuple[str, str, float], ...]) -> list[int]:
    parts = [int(total * share) for *_, share in lines]
    parts[0] += total - sum(parts)
    return parts


Line = tuple[str, str, str, str, int]  # fund, function, object, program_code, cents


def _school_lines(
    d: Directory,
    s: int,
    n: int,
    base_rate: float,
    prices: float,
    correction: bool,
    rng: np.random.Generator,
) -> list[Line]:
    out: list[Line] = []
    cents = _split(round(base_rate * n * 100), INSTRUCTION_LINES)
    for (obj, program, _), c in zip(INSTRUCTION_LINES, cents, strict=True):
        out.append((OPERATIONAL_FUND, INSTRUCTION, obj, program, c))
    if d.heavy[s]:
        uplift = round(effects.CTE_HEAVY_INSTRUCTION_PER_STUDENT * n * 100)
        for (obj, program, _), c in zip(HEAVY_LINES, _split(uplift, HEAVY_LINES), strict=True):
            out.append((OPERATIONAL_FUND, INSTRUCTION, obj, program, c))
    if correction:
        # A posting reversed and re-posted: the pair nets to zero.
        fix = int(rng.integers(5_000, 200_000))
        out.append((OPERATIONAL_FUND, INSTRUCTION, "56118", "1000", -fix))
        out.append((OPERATIONAL_FUND, INSTRUCTION, "56118", "1000", fix))
    for fund, function, obj, program, per_student in OTHER_LINES:
        noise = rng.normal(1.0, 0.1)
        out.append((fund, function, obj, program, round(per_student * prices * noise * n * 100)))
    if d.secondary[s]:
        per = rng.uniform(15, 45) * (2 if d.heavy[s] else 1)
        out.append((PERKINS_FUND, INSTRUCTION, "56118", "3000", round(per * prices * n * 100)))
        if rng.random() < 0.6:
            equip = rng.uniform(10_000, 80_000)
            out.append((STATE_CTE_FUND, INSTRUCTION, "57332", "3000", round(equip * 100)))
    return out


def expenditures(
    d: Directory, enrolled: dict[tuple[str, str], int], year: int, seed: int
) -> pl.DataFrame | None:
    rng = np.random.default_rng([seed, year, 4])
    prices = INFLATION ** (year - PRICE_BASE_YEAR)
    base_rate = d.spend_base * prices
    corrections = rng.random(d.n) < 0.08
    rows: list[tuple[str, ...]] = []
    keys = zip(d.column("district_code"), d.column("location_code"), strict=True)
    for s, (district, location) in enumerate(keys):
        n = enrolled.get((district, location), 0)
        if n:
            lines = _school_lines(d, s, n, base_rate[s], prices, corrections[s], rng)
            rows += [(district, location, *line[:4], money(line[4])) for line in lines]
    if not rows:
        return None
    cols = get_extract("school_expenditures").column_names
    frame = pl.DataFrame(rows, schema=cols[1:], orient="row")
    return frame.select(pl.lit(year).alias("fiscal_year"), *cols[1:])


def grant_awards(
    d: Directory,
    hs_enrolled: dict[str, int],
    econ_share: dict[str, float],
    year: int,
    seed: int,
) -> pl.DataFrame | None:
    """District awards. Each district's NextGen CTE rate per student is a trait, spanning the
    27 to 7,888 dollars the LESC brief reports, higher in small rural districts."""
    rng = np.random.default_rng([seed, year, 5])
    districts = d.column("district_code")
    iz = d.column("innovation_zone") == "Y"
    rural = d.column("locale") == "RURAL"
    rows = []
    for code in sorted(hs_enrolled):
        n = hs_enrolled[code]
        trait = np.random.default_rng([seed, int(code), 6])
        is_rural = bool(rural[districts == code].mean() > 0.5)
        rate = float(np.clip(trait.lognormal(np.log(300) + 0.7 * is_rural, 0.9), 27, 7_888))
        funded, summer, other = trait.random(3) < (0.85, 0.30, 0.15)
        awards = {}
        if funded:
            awards["NEXTGEN_CTE"] = rate * n * rng.uniform(0.9, 1.1)
        perkins = 95 * n * (0.5 + econ_share.get(code, 0.6))
        if perkins >= 15_000:  # below the Perkins minimum districts join a consortium
            awards["PERKINS"] = perkins
        n_iz = int((iz & (districts == code) & d.secondary).sum())
        if n_iz:
            awards["INNOVATION_ZONE"] = 60_000 * n_iz * rng.uniform(0.8, 1.2)
        if summer:
            awards["SUMMER_INTERNSHIP"] = rng.uniform(10_000, 60_000)
        if other:
            awards["OTHER"] = rng.uniform(5_000, 40_000)
        rows += [(year, code, program, money(round(v * 100))) for program, v in awards.items()]
    if not rows:
        return None
    return pl.DataFrame(rows, schema=get_extract("grant_awards").column_names, orient="row")
