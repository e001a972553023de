"""One graduating cohort, simulated whole from grade 6 to its exit, vectorized.

A cohort (cohort_year C, the expected graduation year) enters grade 6 in school year C-6
(grade 9 at high schools without a feeder middle school), moves up one grade a year, and
exits once: graduated (on time, or after a fifth year), dropped out, other, or transferred
out of state. Some students move to another school in the state during high school (a
TRANSFERRED_OUT row at the old school, then rows at the new one). Everything a student
does (courses, tests, credentials, work-based learning, and after exit: wages,
postsecondary enrollment, enlistment) is planned here, at once, from the cohort's own
random stream, so any school year can be cut out of the cohorts that span it and the
history before the first written year exists even though it is not written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dagster_project.sample_data import effects
from dagster_project.sample_data.directory import Directory
from dagster_project.sample_data.people import (
    DISABILITY,
    ECON,
    EL,
    FOSTER,
    HOMELESS,
    MIGRANT,
    SEX_P,
    SINGLE_PARENT,
    draw_flags,
    draw_race,
    pick_names,
)
from dagster_project.sample_data.reference import Reference

GRADUATED, DROPPED, OTHER, TRANSFERRED_OUT = range(4)
EXIT_CODES = np.array(["GRADUATED", "DROPPED", "OTHER", "TRANSFERRED_OUT", "CONTINUING"])
CONTINUING = 4
TERMS = np.array(["S1", "S2", "YR", "SUM"])
S1, S2, YR, SUM = range(4)
SUBJECTS = np.array(["RLA", "MATH", "SCI"])
# Proficiency cut (in standard deviations) per subject: about 38%, 23% and 34% proficient.
CUTS = np.array([0.0, 0.40, 0.07])
TESTED = {6: (0, 1), 7: (0, 1), 8: (0, 1, 2), 11: (0, 1, 2)}
WBL_TYPES = np.array(
    [
        "INTERNSHIP",
        "APPRENTICESHIP",
        "PRE_APPRENTICESHIP",
        "CLINICAL",
        "SCHOOL_BASED_ENTERPRISE",
        "JOB_SHADOW",
    ]
)
SBE, JOB_SHADOW = 4, 5  # positions in WBL_TYPES
WBL_HOURS = np.array([[40, 240], [144, 720], [60, 240], [40, 160], [20, 120], [4, 16]])
WBL_PAID_P = np.array([0.5, 1.0, 0.3, 0.1, 0.2, 0.0])
_WBL_MIX = {  # by cluster kind: health, trades, other
    0: [0.20, 0.0, 0.0, 0.55, 0.10, 0.15],
    1: [0.30, 0.15, 0.30, 0.0, 0.10, 0.15],
    2: [0.45, 0.0, 0.0, 0.0, 0.25, 0.30],
}
_HEALTH = ("Healthcare & Human Services",)
_TRADES = (
    "Advanced Manufacturing",
    "Construction",
    "Energy & Natural Resources",
    "Supply Chain & Transportation",
)
CLUSTER_NAICS = {
    "Advanced Manufacturing": ("332710", "332312", "336413"),
    "Agriculture": ("112111", "111998", "541940"),
    "Arts, Entertainment, & Design": ("512110", "541430"),
    "Construction": ("236118", "238210", "238220"),
    "Digital Technology": ("541511", "541512", "518210"),
    "Education": ("611110", "624410"),
    "Energy & Natural Resources": ("211120", "213112", "221114"),
    "Financial Services": ("522130", "541211"),
    "Healthcare & Human Services": ("622110", "623110", "621910", "456110"),
    "Hospitality, Events, & Tourism": ("722511", "721110"),
    "Management & Entrepreneurship": ("561110", "551114"),
    "Marketing & Sales": ("455110", "541613"),
    "Public Service & Safety": ("922120", "922160", "921190"),
    "Supply Chain & Transportation": ("811111", "484121", "493110", "488190"),
}
GENERAL_NAICS = np.array(["722513", "445110", "455110", "561320", "444110", "812112", "624120"])
INSTITUTIONS = {  # IPEDS-style unit ids (synthetic), by institution type and in-state
    ("2YR", True): ("187532", "188100", "188137", "187666", "188058"),
    ("4YR", True): ("187985", "188030", "187648", "188003"),
    ("TECH", True): ("366474", "188234"),
    ("APPRENTICESHIP", True): ("A35001", "A35002"),
    ("2YR", False): ("104708", "126173"),
    ("4YR", False): ("104151", "126614", "228778"),
    ("TECH", False): ("229063",),
    ("APPRENTICESHIP", False): ("A48001",),
}
PS_TYPES = np.array(["2YR", "4YR", "TECH", "APPRENTICESHIP"])
PS_TYPE_P = [0.55, 0.35, 0.07, 0.03]
ROUTE_PS, ROUTE_MILITARY, ROUTE_WORK = range(3)
QUARTERS_FOLLOWED = 12


@dataclass(frozen=True)
class Padded:
    """Lists of options per group as one padded array, for vectorized picks."""

    values: np.ndarray  # [group, slot]
    counts: np.ndarray  # options per group

    @classmethod
    def of(cls, groups: list[np.ndarray]) -> Padded:
        width = max(g.size for g in groups)
        values = np.empty((len(groups), width), dtype=groups[0].dtype)
        for i, g in enumerate(groups):
            values[i, : g.size] = g
            values[i, g.size :] = g[0] if g.size else values[i, 0]
        return cls(values, np.array([g.size for g in groups]))

    def pick(self, group: np.ndarray, draw: np.ndarray, offset: int = 0) -> np.ndarray:
        """Option (draw + offset) mod count of each row's group."""
        return self.values[group, (draw + offset) % self.counts[group]]


_INSTITUTION_GROUPS = Padded.of(
    [np.array(INSTITUTIONS[(t, s)], dtype=object) for s in (False, True) for t in PS_TYPES]
)


@dataclass(frozen=True)
class Catalog:
    """The reference seeds as arrays the simulation indexes."""

    course_code: np.ndarray  # object [program, level 0..4]
    program_cluster: np.ndarray  # cluster position per program
    nontrad: np.ndarray  # 'F', 'M' or '' per program
    ms_programs: np.ndarray  # programs with a middle-school exploratory course
    two_credit_capstone: np.ndarray  # bool per program: capstone is a two-credit block
    cred_by_cluster: Padded  # credential positions per cluster
    tier3: np.ndarray  # positions of tier-3 credentials
    cred_tier: np.ndarray
    cluster_kind: np.ndarray  # 0 health, 1 trades, 2 other
    cluster_naics: Padded  # employer NAICS codes per cluster

    @classmethod
    def build(cls, ref: Reference) -> Catalog:
        clusters = ref.clusters
        codes = ref.course_table()
        cred_cluster = ref.credentials["career_cluster"].to_numpy()
        tiers = ref.credentials["tier"].to_numpy()
        program_cluster = ref.program_cluster_index()
        kind = np.array([0 if c in _HEALTH else 1 if c in _TRADES else 2 for c in clusters])
        return cls(
            course_code=codes,
            program_cluster=program_cluster,
            nontrad=ref.programs["nontraditional_for"].fill_null("").to_numpy(),
            ms_programs=np.flatnonzero(codes[:, 0] != ""),
            two_credit_capstone=kind[program_cluster] < 2,
            cred_by_cluster=Padded.of([np.flatnonzero(cred_cluster == c) for c in clusters]),
            tier3=np.flatnonzero(tiers == 3),
            cred_tier=tiers,
            cluster_kind=kind,
            cluster_naics=Padded.of([np.array(CLUSTER_NAICS[c], dtype=object) for c in clusters]),
        )


def dates(year: np.ndarray | int, month: int, day: int) -> np.ndarray:
    """Vectorized date(year, month, day) as datetime64[D]."""
    y = np.asarray(year, dtype=np.int64) - 1970
    return (y.astype("M8[Y]").astype("M8[M]") + (month - 1)).astype("M8[D]") + (day - 1)


def quarter_index(d: np.ndarray) -> np.ndarray:
    """Calendar quarter as year*4 + (quarter-1)."""
    months = d.astype("M8[M]").astype(np.int64)  # months since 1970-01
    return (months // 12 + 1970) * 4 + (months % 12) // 3


Plan = dict[str, np.ndarray]


@dataclass
class Cohort:
    cohort_year: int
    sid: np.ndarray
    hs: np.ndarray  # secondary school (directory position) on entering grade 9
    ms: np.ndarray  # school for grades 6-8, -1 when the student starts at grade 9
    hs2: np.ndarray  # school after an in-state transfer, -1 when none
    start_year: np.ndarray
    sex: np.ndarray
    race: np.ndarray
    flags: np.ndarray
    last_name: np.ndarray
    first_name: np.ndarray
    birth_date: np.ndarray
    conc: np.ndarray  # planted concentrator (two completed courses in `program`)
    program: np.ndarray
    exit_kind: np.ndarray
    exit_year: np.ndarray
    exit_date: np.ndarray
    xfer_year: np.ndarray  # 0 when no in-state transfer
    xfer_date: np.ndarray
    courses: Plan = field(default_factory=dict)
    tests: Plan = field(default_factory=dict)
    credentials: Plan = field(default_factory=dict)
    wbl: Plan = field(default_factory=dict)
    # After exit, by calendar year: written to the state-level files.
    wages: Plan = field(default_factory=dict)
    postsecondary: Plan = field(default_factory=dict)
    military: Plan = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.sid.size

    def grade(self, year: int) -> int:
        return year - self.cohort_year + 12

    def active(self, year: int) -> np.ndarray:
        return (self.start_year <= year) & (self.exit_year >= year)

    def school_in(self, idx: np.ndarray, year: np.ndarray | int) -> np.ndarray:
        """School of students idx in school year(s) `year` (the new school in a transfer year)."""
        grade = np.asarray(year) - self.cohort_year + 12
        moved = (self.xfer_year[idx] > 0) & (year >= self.xfer_year[idx])
        high = np.where(moved, self.hs2[idx], self.hs[idx])
        return np.where(grade <= 8, self.ms[idx], high)


def _student_ids(cohort_year: int, n: int, seed: int) -> np.ndarray:
    # A bijection on 9-digit numbers: unique across cohorts, scattered like real IDs.
    k = (cohort_year - 2000) * 4_000_000 + np.arange(n, dtype=np.int64)
    return 100_000_000 + (k * 7_919_761 + seed * 1_000_003) % 900_000_000


def _pick_per_school(
    rng: np.random.Generator, school: np.ndarray, options: dict[int, np.ndarray]
) -> np.ndarray:
    """For each student a random option of their school (-1 when the school has none)."""
    out = np.full(school.size, -1, dtype=np.int32)
    for s, opts in options.items():
        mask = school == s
        if opts.size and mask.any():
            out[mask] = opts[rng.integers(0, opts.size, mask.sum())]
    return out


def _feeders(d: Directory) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Middle schools feeding each secondary school, and in-state transfer destinations."""
    district = d.column("district_code")
    level = d.column("school_level")
    secondary = np.flatnonzero(d.secondary)
    middle, moves = {}, {}
    for s in secondary:
        same = district == district[s]
        middle[int(s)] = (
            np.array([s]) if d.combined[s] else np.flatnonzero(same & (level == "MIDDLE"))
        )
        near = secondary[same[secondary] & (secondary != s)]
        moves[int(s)] = near if near.size else secondary[secondary != s]
    return middle, moves


def simulate_cohort(
    cohort_year: int,
    d: Directory,
    cat: Catalog,
    seed: int,
    written: tuple[int, int],
) -> Cohort:
    rng = np.random.default_rng([seed, cohort_year, 2])
    C = cohort_year
    secondary = np.flatnonzero(d.secondary)
    hs = np.repeat(secondary, rng.poisson(d.cohort_size[secondary])).astype(np.int32)
    n = hs.size
    middle, moves = _feeders(d)
    ms = _pick_per_school(rng, hs, middle)
    start_year = np.where(ms >= 0, C - 6, C - 3)

    sex = rng.choice(3, size=n, p=SEX_P).astype(np.int8)
    race = draw_race(rng, d.ai_share[hs])
    rural = d.column("locale")[hs] == "RURAL"
    region = d.column("cte_region")[hs]
    military_area = np.isin(region, ("4", "10")) | (d.column("district_code")[hs] == "001")
    flags = draw_flags(rng, race, rural, military_area)
    ability = (
        rng.normal(0.0, 1.0, n)
        - 0.35 * flags[:, ECON]
        - 0.45 * flags[:, EL]
        - 0.60 * flags[:, DISABILITY]
    )
    last, first = pick_names(rng, race, sex)
    birth = dates(C - 19, 9, 1) + rng.integers(0, 365, n)

    exit_kind, exit_year, exit_date, conc = _exits(rng, C, d, hs, ms, sex, flags, ability)
    program = _choose_program(rng, d, cat, hs, sex)
    xfer_year, xfer_date, hs2 = _transfers(rng, C, hs, exit_year, moves)

    c = Cohort(
        cohort_year=C,
        sid=_student_ids(C, n, seed),
        hs=hs,
        ms=ms,
        hs2=hs2,
        start_year=start_year,
        sex=sex,
        race=race,
        flags=flags,
        last_name=last,
        first_name=first,
        birth_date=birth,
        conc=conc,
        program=program,
        exit_kind=exit_kind,
        exit_year=exit_year,
        exit_date=exit_date,
        xfer_year=xfer_year,
        xfer_date=xfer_date,
    )
    _plan_courses(rng, c, d, cat)
    _plan_tests(rng, c, ability)
    _plan_credentials(rng, c, cat)
    _plan_wbl(rng, c, cat)
    _plan_after_exit(rng, c, cat, written)
    return c


def _exits(
    rng: np.random.Generator,
    C: int,
    d: Directory,
    hs: np.ndarray,
    ms: np.ndarray,
    sex: np.ndarray,
    flags: np.ndarray,
    ability: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = hs.size
    start_grade = np.where(ms >= 0, 6, 9)
    tout = rng.random(n) < 0.10
    tout_grade = rng.integers(start_grade, 13)

    # Concentration depends only on matched traits (school, sex, econ., disability).
    f = d.intent[hs]
    logit = (
        np.log(f / (1 - f))
        + 0.25 * flags[:, ECON]
        - 0.25 * flags[:, DISABILITY]
        + 0.15 * (sex == 1)
    )
    conc = rng.random(n) < 1 / (1 + np.exp(-logit))

    base = (
        0.83
        - 0.07 * flags[:, ECON]
        - 0.10 * flags[:, DISABILITY]
        - 0.05 * flags[:, EL]
        - 0.08 * flags[:, HOMELESS]
        - 0.10 * flags[:, FOSTER]
        - 0.03 * flags[:, MIGRANT]
        - 0.05 * flags[:, SINGLE_PARENT]
        + 0.05 * np.clip(ability, -2, 2)
        + d.grad_shift[hs]
    )
    p_grad4 = np.clip(base, 0.25, 0.90) + effects.GRADUATION_PP / 100 * conc
    grad4 = ~tout & (rng.random(n) < p_grad4)
    nongrad = ~tout & ~grad4
    leave_grade = rng.choice([9, 10, 11, 12], size=n, p=[0.20, 0.25, 0.28, 0.27])
    fifth = nongrad & (leave_grade == 12) & (rng.random(n) < 0.55)
    fifth_grad = fifth & (rng.random(n) < 0.5)
    other = rng.random(n) < 0.12

    kind = np.full(n, DROPPED, dtype=np.int8)
    kind[nongrad & ~fifth & other] = OTHER
    kind[grad4 | fifth_grad] = GRADUATED
    kind[tout] = TRANSFERRED_OUT
    year = np.where(fifth, C + 1, C - 12 + leave_grade)
    year = np.where(grad4, C, year)
    year = np.where(tout, C - 12 + tout_grade, year)
    # Graduates leave in late May; everyone else in the spring semester.
    grad_day = dates(year, 5, 15) + rng.integers(0, 18, n)
    left_day = dates(year, 1, 10) + rng.integers(0, 126, n)
    when = np.where(kind == GRADUATED, grad_day, left_day)
    conc &= year >= C - 3  # never reached high school
    return kind, year.astype(np.int16), when, conc


def _choose_program(
    rng: np.random.Generator, d: Directory, cat: Catalog, hs: np.ndarray, sex: np.ndarray
) -> np.ndarray:
    """Each student's program of study among those their school offers (Gumbel-max draw),
    with fewer students choosing a program non-traditional for their sex."""
    offered = d.offered[hs]
    valid = offered >= 0
    nontrad = cat.nontrad[np.where(valid, offered, 0)]
    sex_code = np.array(["F", "M", "X"])[sex][:, None]
    weight = np.where(nontrad == sex_code, 0.3, 1.0)
    score = np.log(weight) + rng.gumbel(size=offered.shape)
    score[~valid] = -np.inf
    return offered[np.arange(hs.size), score.argmax(axis=1)].astype(np.int16)


def _transfers(
    rng: np.random.Generator,
    C: int,
    hs: np.ndarray,
    exit_year: np.ndarray,
    moves: dict[int, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = hs.size
    dest = _pick_per_school(rng, hs, moves)
    last_high = np.minimum(exit_year, C)
    eligible = (exit_year >= C - 3) & (dest >= 0) & (rng.random(n) < 0.05)
    year = rng.integers(C - 3, np.maximum(last_high, C - 3) + 1)
    xfer_year = np.where(eligible, year, 0).astype(np.int16)
    xfer_date = dates(np.maximum(xfer_year, 1971) - 1, 10, 1) + rng.integers(0, 75, n)
    return xfer_year, xfer_date, np.where(eligible, dest, -1).astype(np.int32)


def _concat(parts: list[Plan]) -> Plan:
    parts = [p for p in parts if p["student"].size]
    if not parts:
        return {}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _last_high_grade(c: Cohort) -> np.ndarray:
    """Last grade with courses (a fifth year repeats grade 12 without CTE courses)."""
    return np.minimum(c.exit_year - c.cohort_year + 12, 12)


def _course_rows(
    c: Cohort,
    cat: Catalog,
    idx: np.ndarray,
    program: np.ndarray,
    level: np.ndarray,
    grade: np.ndarray,
    term: np.ndarray,
    completed: np.ndarray,
) -> Plan:
    year = c.cohort_year - 12 + grade
    # Students who leave without graduating go in the spring: their last year is S1 only.
    leaving = (c.exit_kind[idx] != GRADUATED) & (year == c.exit_year[idx])
    term = np.where(leaving, S1, term)
    credits = np.where(term == YR, 10, 5)
    credits = np.where((level == 4) & (term == YR) & cat.two_credit_capstone[program], 20, credits)
    return {
        "student": idx,
        "year": year,
        "code": cat.course_code[program, level],
        "term": term,
        "completed": completed,
        "credits10": np.where(completed, credits, 0),
        "dual": completed & (level >= 3),
        "level": level,
    }


def _plan_courses(rng: np.random.Generator, c: Cohort, d: Directory, cat: Catalog) -> None:
    C, n = c.cohort_year, c.n
    last = _last_high_grade(c)
    in_high = c.exit_year >= C - 3
    parts: list[Plan] = []

    # Concentrators: the program's sequence; the second completion mostly in grade 10-11.
    k = np.flatnonzero(c.conc)
    g2 = np.minimum(rng.choice([9, 10, 11, 12], size=k.size, p=[0.2, 0.45, 0.3, 0.05]), last[k])
    g1 = np.maximum(g2 - (rng.random(k.size) < 0.6), 9)
    g3 = g2 + 1
    has3 = (g3 <= last[k]) & (rng.random(k.size) < 0.6)
    g4 = g3 + 1
    has4 = has3 & (g4 <= last[k]) & (rng.random(k.size) < 0.65)
    same = g1 == g2
    prog = c.program[k]
    for lvl, g, take, term, done in (
        (1, g1, np.ones(k.size, bool), np.where(same, S1, YR), np.ones(k.size, bool)),
        (2, g2, np.ones(k.size, bool), np.where(same, S2, YR), np.ones(k.size, bool)),
        (3, g3, has3, np.full(k.size, YR), rng.random(k.size) < 0.9),
        (4, g4, has4, np.full(k.size, YR), rng.random(k.size) < 0.9),
    ):
        level = np.full(take.sum(), lvl)
        parts.append(
            _course_rows(c, cat, k[take], prog[take], level, g[take], term[take], done[take])
        )

    # Everyone else: at most one completed course per program, so never a concentrator.
    k = np.flatnonzero(in_high & ~c.conc)
    offered = d.offered[c.hs[k]]
    n_off = (offered >= 0).sum(axis=1)
    m = np.minimum(rng.choice(4, size=k.size, p=[0.42, 0.36, 0.16, 0.06]), n_off)
    r = rng.integers(0, 1 << 30, k.size) % n_off
    for j in range(3):
        take = j < m
        prog = offered[np.arange(k.size), (r + j) % n_off][take]
        level = np.where(rng.random(take.sum()) < 0.8, 1, 2)
        grade = rng.integers(9, last[k][take] + 1)
        term = rng.choice([YR, S1, SUM], size=take.sum(), p=[0.85, 0.12, 0.03])
        parts.append(
            _course_rows(c, cat, k[take], prog, level, grade, term, np.ones(take.sum(), bool))
        )
    fail = (m < n_off) & (rng.random(k.size) < 0.12)
    prog = offered[np.arange(k.size), (r + m) % n_off][fail]
    grade = rng.integers(9, last[k][fail] + 1)
    ones = np.ones(fail.sum(), dtype=np.int64)
    parts.append(
        _course_rows(
            c, cat, k[fail], prog, ones, grade, np.full(fail.sum(), S2), ~ones.astype(bool)
        )
    )

    # Middle-school exploratory courses (grades 7-8): they never count toward concentration.
    k = np.flatnonzero((c.ms >= 0) & (c.exit_year >= C - 5) & (rng.random(n) < 0.25))
    prog = cat.ms_programs[rng.integers(0, cat.ms_programs.size, k.size)]
    grade = np.where(c.exit_year[k] >= C - 4, rng.integers(7, 9, k.size), 7)
    zero = np.zeros(k.size, dtype=np.int64)
    term = rng.choice([S1, S2], size=k.size)
    parts.append(_course_rows(c, cat, k, prog, zero, grade, term, rng.random(k.size) < 0.92))
    again = (grade == 7) & (c.exit_year[k] >= C - 4) & (rng.random(k.size) < 0.2)
    parts.append(
        _course_rows(
            c,
            cat,
            k[again],
            prog[again],
            zero[again],
            np.full(again.sum(), 8),
            term[again],
            np.ones(again.sum(), bool),
        )
    )
    plan = _concat(parts)
    plan["dual"] &= (plan["level"] == 4) | (
        (c.cohort_year - 12 + 11 <= plan["year"]) & (rng.random(plan["year"].size) < 0.3)
    )
    c.courses = plan


def _plan_tests(rng: np.random.Generator, c: Cohort, ability: np.ndarray) -> None:
    parts = []
    for grade, subjects in TESTED.items():
        year = c.cohort_year - 12 + grade
        # Tested in April: enrolled that spring, and took part (95%).
        present = (c.start_year <= year) & (
            (c.exit_year > year)
            | ((c.exit_year == year) & (c.exit_date >= dates(year, 4, 1)))
            | ((c.exit_year == year) & (c.exit_kind == GRADUATED))
        )
        for s in subjects:
            k = np.flatnonzero(present & (rng.random(c.n) < 0.95))
            z = 0.85 * ability[k] + 0.5 * rng.normal(0, 1, k.size)
            shift = 4 * (grade - 6)
            score = np.round(700 + 25 * z + shift).astype(np.int64)
            cut = np.round(700 + 25 * CUTS[s] + shift)
            parts.append(
                {
                    "student": k,
                    "year": np.full(k.size, year),
                    "subject": np.full(k.size, s),
                    "score": score,
                    "proficient": score >= cut,
                }
            )
    c.tests = _concat(parts)


def _in_year_dates(
    rng: np.random.Generator, c: Cohort, idx: np.ndarray, year: np.ndarray
) -> np.ndarray:
    """A date in the school year, on or before the exit date in the year of exit."""
    start = dates(year - 1, 9, 20)
    end = dates(year, 5, 31)
    end = np.where(c.exit_year[idx] == year, np.minimum(end, c.exit_date[idx]), end)
    span = (end - start).astype(np.int64) + 1
    return start + (rng.random(idx.size) * span).astype(np.int64)


def _plan_credentials(rng: np.random.Generator, c: Cohort, cat: Catalog) -> None:
    C = c.cohort_year
    last = _last_high_grade(c)
    grade_of = c.courses["year"] - C + 12
    first_done = np.full(c.n, 99)
    done_high = c.courses["completed"] & (grade_of >= 9)
    np.minimum.at(first_done, c.courses["student"][done_high], grade_of[done_high])

    # Concentrators: a credential of their program's cluster, 15% a second one.
    k = np.flatnonzero(c.conc & (last >= 10) & (rng.random(c.n) < 0.5))
    cluster = cat.program_cluster[c.program[k]]
    lo = np.clip(first_done[k], 10, last[k])
    grade = rng.integers(lo, last[k] + 1)
    pick = rng.integers(0, 1 << 30, k.size)
    cred = cat.cred_by_cluster.pick(cluster, pick)
    second = (cat.cred_by_cluster.counts[cluster] > 1) & (rng.random(k.size) < 0.15)
    cred2 = cat.cred_by_cluster.pick(cluster, pick, offset=1)
    # Other participants: now and then a tier-3 credential.
    j = np.flatnonzero(~c.conc & (first_done < 99) & (rng.random(c.n) < 0.07))
    gj = rng.integers(np.minimum(first_done[j], last[j]), last[j] + 1)
    credj = cat.tier3[rng.integers(0, cat.tier3.size, j.size)]

    idx = np.concatenate([k, k[second], j])
    year = C - 12 + np.concatenate([grade, grade[second], gj])
    code = np.concatenate([cred, cred2[second], credj])
    earned = _in_year_dates(rng, c, idx, year)
    # A few graduates finish a credential in June, after their exit date (5S1 excludes them).
    late = (
        (c.exit_kind[idx] == GRADUATED) & (c.exit_year[idx] == year) & (rng.random(idx.size) < 0.06)
    )
    earned = np.where(late, dates(year, 6, 5) + rng.integers(0, 20, idx.size), earned)
    tier = cat.cred_tier[code]
    c.credentials = {
        "student": idx,
        "year": year,
        "credential": code,
        "earned": earned,
        "verified": rng.random(idx.size) < 0.88,
        "college": (tier == 1) & (rng.random(idx.size) < 0.3),
    }


def _plan_wbl(rng: np.random.Generator, c: Cohort, cat: Catalog) -> None:
    C = c.cohort_year
    last = _last_high_grade(c)
    participant = np.zeros(c.n, dtype=bool)
    participant[c.courses["student"][c.courses["completed"] & (c.courses["level"] > 0)]] = True
    parts = []
    for grade in (11, 12):
        p = np.where(c.conc, 0.30, np.where(participant, 0.04, 0.0))
        k = np.flatnonzero((last >= grade) & (rng.random(c.n) < p))
        cluster = cat.program_cluster[c.program[k]]
        kind = cat.cluster_kind[cluster]
        wtype = np.empty(k.size, dtype=np.int64)
        for kd, mix in _WBL_MIX.items():
            sel = kind == kd
            wtype[sel] = rng.choice(6, size=sel.sum(), p=mix)
        lo, hi = WBL_HOURS[wtype, 0], WBL_HOURS[wtype, 1]
        naics = cat.cluster_naics.pick(cluster, rng.integers(0, 1 << 30, k.size))
        no_employer = (wtype == SBE) | ((wtype == JOB_SHADOW) & (rng.random(k.size) < 0.3))
        naics[no_employer] = ""  # no employer: null
        parts.append(
            {
                "student": k,
                "year": np.full(k.size, C - 12 + grade),
                "type": wtype,
                "hours": rng.integers(lo, hi + 1),
                "naics": naics,
                "paid": rng.random(k.size) < WBL_PAID_P[wtype],
            }
        )
    c.wbl = _concat(parts)


def _plan_after_exit(
    rng: np.random.Generator, c: Cohort, cat: Catalog, written: tuple[int, int]
) -> None:
    """Placement, postsecondary enrollment, enlistment and quarterly wages of the leavers
    whose exit falls in a written year (others are never seen by the warehouse)."""
    first_year, last_year = written
    k = np.flatnonzero(
        (c.exit_kind != TRANSFERRED_OUT) & (c.exit_year >= first_year) & (c.exit_year <= last_year)
    )
    f = c.flags[k]
    grad = c.exit_kind[k] == GRADUATED
    conc = c.conc[k]
    base = np.clip(
        0.50 + 0.17 * grad - 0.05 * f[:, ECON] - 0.06 * f[:, DISABILITY] - 0.03 * f[:, EL],
        0.15,
        0.85,
    )
    placed = rng.random(k.size) < base + effects.PLACEMENT_PP / 100 * conc
    # The route out is independent of concentration, so the mix among the placed is too.
    u = rng.random(k.size)
    route = np.where(
        grad,
        np.where(u < 0.55, ROUTE_PS, np.where(u < 0.59, ROUTE_MILITARY, ROUTE_WORK)),
        np.where(u < 0.12, ROUTE_PS, np.where(u < 0.13, ROUTE_MILITARY, ROUTE_WORK)),
    )
    exit_date = c.exit_date[k]
    exit_q = quarter_index(exit_date)
    exit_cal = exit_date.astype("M8[Y]").astype(np.int64) + 1970

    c.postsecondary = _postsecondary(rng, k, placed, route, exit_cal)
    mil = np.flatnonzero(placed & (route == ROUTE_MILITARY))
    c.military = {"student": k[mil], "date": exit_date[mil] + rng.integers(20, 80, mil.size)}
    c.wages = _wages(rng, c, cat, k, placed, route, grad, conc, exit_q, written)


def _postsecondary(
    rng: np.random.Generator,
    k: np.ndarray,
    placed: np.ndarray,
    route: np.ndarray,
    exit_cal: np.ndarray,
) -> Plan:
    fall = placed & (route == ROUTE_PS)
    later = ~placed & (rng.random(k.size) < 0.15)  # enrolls after the placement window
    ps_type = rng.choice(PS_TYPES.size, size=k.size, p=PS_TYPE_P)
    in_state = rng.random(k.size) < 0.85
    group = in_state * PS_TYPES.size + ps_type
    inst = _INSTITUTION_GROUPS.pick(group, rng.integers(0, 1 << 30, k.size))
    fall_start = dates(exit_cal, 8, 16) + rng.integers(0, 15, k.size)
    spring_start = dates(exit_cal + 1, 1, 12) + rng.integers(0, 9, k.size)
    persist = fall & (rng.random(k.size) < 0.8)
    rows = [
        (np.flatnonzero(fall), fall_start),
        (np.flatnonzero(persist | later), spring_start),
    ]
    return _concat(
        [
            {
                "student": k[i],
                "term_start": start[i],
                "institution": inst[i],
                "type": PS_TYPES[ps_type[i]],
                "in_state": in_state[i],
            }
            for i, start in rows
        ]
    )


def _wages(
    rng: np.random.Generator,
    c: Cohort,
    cat: Catalog,
    k: np.ndarray,
    placed: np.ndarray,
    route: np.ndarray,
    grad: np.ndarray,
    conc: np.ndarray,
    exit_q: np.ndarray,
    written: tuple[int, int],
) -> Plan:
    n, q = k.size, QUARTERS_FOLLOWED
    after = np.arange(1, q + 1)
    p_work = np.where(
        placed, np.select([route == ROUTE_WORK, route == ROUTE_PS], [0.85, 0.45], 0.0), 0.35
    )
    employed = rng.random((n, q)) < p_work[:, None]
    # The placement quarter (second after exit) is exactly what placement says.
    employed[:, 1] = placed & ((route == ROUTE_WORK) | ((route == ROUTE_PS) & employed[:, 1]))
    quarter = exit_q[:, None] + after[None, :]
    year = quarter // 4
    employed &= (year >= written[0]) & (year <= written[1])
    level = np.where(grad, 6_200.0, 4_400.0) * rng.lognormal(0.0, 0.4, n)
    level *= np.where(route == ROUTE_PS, 0.45, 1.0)
    wage = (
        level[:, None]
        * 1.03 ** (year - 2024)
        * rng.lognormal(0.0, 0.12, (n, q))
        * (1 + 0.012 * after[None, :])
        + effects.EARNINGS_QUARTERLY_DOLLARS * conc[:, None]
    )
    cluster = cat.program_cluster[c.program[k]]
    pick = rng.integers(0, 1 << 30, n)
    in_field = cat.cluster_naics.pick(cluster, pick)
    general = GENERAL_NAICS[pick % GENERAL_NAICS.size].astype(object)
    naics = np.where(conc & (rng.random(n) < 0.4), in_field, general)
    row, col = np.nonzero(employed)
    return {
        "student": k[row],
        "year": year[row, col],
        "quarter": quarter[row, col] % 4 + 1,
        "naics": naics[row],
        "cents": np.round(wage[row, col] * 100).astype(np.int64),
    }
