"""The raw extract contract (../shared/spec/extracts.md) as data.

One declaration per extract drives the loader (header check, casts, keys, privacy), the
warehouse DDL and the sample-data generator. The dbt sources (dbt/models/staging/
_sources.yml) list the columns again with their descriptions; test_dbt_models checks that
they are these columns, in this order. Value rules (ranges, code sets, cross-field) live in
the Great Expectations suites under expectations/, not here: this module owns only what a
file must be to be read at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Family(StrEnum):
    ENROLLMENT = "enrollment"
    CREDENTIALS = "credentials"
    FINANCE = "finance"
    LABOR_MARKET = "labor_market"


class Kind(StrEnum):
    """How a text field from a file is cast. CODE keeps leading zeros."""

    CODE = "code"  # text, kept exactly (leading zeros, upper-cased enumerations)
    TEXT = "text"
    INT = "int"
    DECIMAL = "decimal"
    DATE = "date"
    BLS_NUMBER = "bls_number"  # numeric with BLS flags (*, **, #): value + <name>_flag


class Pii(StrEnum):
    STUDENT_ID = "student_id"  # replaced at load by an HMAC-SHA256 pseudonym
    DROP = "drop"  # names and birth dates: read, never stored


DUCKDB_TYPES: dict[Kind, str] = {
    Kind.CODE: "VARCHAR",
    Kind.TEXT: "VARCHAR",
    Kind.INT: "BIGINT",
    Kind.DECIMAL: "DECIMAL(18,2)",
    Kind.DATE: "DATE",
    Kind.BLS_NUMBER: "DOUBLE",
}

# Columns every raw table carries besides the contract's own.
LINEAGE_COLUMNS: dict[str, str] = {
    "_manifest_id": "BIGINT",  # the load_manifest row of the file this row came from
    "_source_row": "BIGINT",  # line number in the file (1 = header)
    "_file_year": "BIGINT",  # the year in the file name (school, fiscal or data year)
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = Kind.CODE
    required: bool = True
    pii: Pii | None = None
    description: str = ""
    # Fixed width of a digits-only code whose leading zeros matter (001, 09): a shorter
    # all-digit value lost them as a number in a spreadsheet (ingest/codes.py pads it).
    width: int | None = None


@dataclass(frozen=True)
class Extract:
    name: str
    family: Family
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()  # natural key: duplicates with different values are quarantined
    year_column: str | None = None  # must equal the year in the file name
    district_column: str | None = None  # must equal the district in the file name
    state_level: bool = False  # files named <extract>__state__<year>__<ts>
    # For a state-level extract, the kinds of release the name's second part may say; each
    # kind is its own slice, so a metro workbook never replaces the state one.
    release_kinds: tuple[str, ...] = ("state",)
    optional: bool = False  # the state may never send it (military enlistment)
    formats: tuple[str, ...] = (".csv", ".csv.gz", ".parquet")
    description: str = ""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def stored_columns(self) -> list[Column]:
        """Contract columns that reach the warehouse (PII to drop is left out)."""
        return [c for c in self.columns if c.pii is not Pii.DROP]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def warehouse_columns(self) -> dict[str, str]:
        cols: dict[str, str] = {}
        for c in self.stored_columns:
            cols[c.name] = "VARCHAR" if c.pii is Pii.STUDENT_ID else DUCKDB_TYPES[c.kind]
            if c.kind is Kind.BLS_NUMBER:
                cols[f"{c.name}_flag"] = "VARCHAR"
        return cols | LINEAGE_COLUMNS


def _c(name: str, kind: Kind = Kind.CODE, required: bool = True, **kw) -> Column:
    return Column(name, kind, required, **kw)


STUDENT_ID = _c(
    "student_id", pii=Pii.STUDENT_ID, width=9, description="State student ID (9 digits)"
)
DISTRICT = _c("district_code", width=3, description="Three-digit district or charter code")
LOCATION = _c("location_code", width=3, description="Three-digit school code within the district")
SCHOOL_YEAR = _c("school_year", Kind.INT, description="Spring year: 2024 = SY 2023-24")
FLAGS = (
    "economically_disadvantaged",
    "disability",
    "english_learner",
    "homeless",
    "foster_care",
    "military_connected",
    "migrant",
    "single_parent",
)

EXTRACTS: tuple[Extract, ...] = (
    Extract(
        "student_enrollment",
        Family.ENROLLMENT,
        (
            STUDENT_ID,
            _c("last_name", Kind.TEXT, pii=Pii.DROP),
            _c("first_name", Kind.TEXT, pii=Pii.DROP),
            _c("birth_date", Kind.DATE, pii=Pii.DROP),
            DISTRICT,
            LOCATION,
            SCHOOL_YEAR,
            _c("grade_level", width=2),
            _c("sex"),
            _c("race_ethnicity"),
            *(_c(f) for f in FLAGS),
            _c("cohort_year", Kind.INT),
            _c("exit_code"),
            _c("exit_date", Kind.DATE, required=False),
        ),
        key=("student_id", "district_code", "location_code", "school_year"),
        year_column="school_year",
        district_column="district_code",
        description="One row per student per school per year (STARS-like snapshot).",
    ),
    Extract(
        "cte_course_enrollment",
        Family.ENROLLMENT,
        (
            STUDENT_ID,
            DISTRICT,
            LOCATION,
            SCHOOL_YEAR,
            _c("course_code"),
            _c("term"),
            _c("completed"),
            _c("credits_earned", Kind.DECIMAL),
            _c("dual_credit"),
        ),
        key=("student_id", "district_code", "location_code", "school_year", "course_code", "term"),
        year_column="school_year",
        district_column="district_code",
        description="One row per student per CTE course section per term.",
    ),
    Extract(
        "assessment_results",
        Family.ENROLLMENT,
        (
            STUDENT_ID,
            DISTRICT,
            SCHOOL_YEAR,
            _c("subject"),
            _c("scale_score", Kind.INT),
            _c("proficient"),
        ),
        key=("student_id", "school_year", "subject"),
        year_column="school_year",
        district_column="district_code",
        description="Academic proficiency results (Perkins 2S1-2S3).",
    ),
    Extract(
        "program_quality_review",
        Family.ENROLLMENT,
        (
            DISTRICT,
            LOCATION,
            SCHOOL_YEAR,
            _c("program_of_study_code"),
            _c("component", Kind.INT),
            _c("rating", Kind.INT),
            _c("reviewed_on", Kind.DATE),
        ),
        # School codes repeat across districts: keys with location_code carry district_code.
        key=(
            "district_code",
            "location_code",
            "school_year",
            "program_of_study_code",
            "component",
        ),
        year_column="school_year",
        district_column="district_code",
        description="High-Quality CTE framework self-review: 12 components rated 1-4.",
    ),
    Extract(
        "credential_attainment",
        Family.CREDENTIALS,
        (
            STUDENT_ID,
            DISTRICT,
            LOCATION,
            SCHOOL_YEAR,
            _c("cip_code"),
            _c("delivery_method"),
            _c("credential_code"),
            # The STARS template has none of these three: the name and issuer come from the
            # credentials seed, and a credential without a verified flag counts when its code
            # is on PED's list for the school year (seed ped_credential_list).
            _c("credential_name", Kind.TEXT, required=False),
            _c("issuer", Kind.TEXT, required=False),
            _c("earned_date", Kind.DATE),
            _c("verified", required=False),
        ),
        key=("student_id", "credential_code", "earned_date"),
        year_column="school_year",
        district_column="district_code",
        description="Industry credentials earned (STARS CTE Student Industry Credential).",
    ),
    Extract(
        "work_based_learning",
        Family.CREDENTIALS,
        (
            STUDENT_ID,
            DISTRICT,
            SCHOOL_YEAR,
            _c("wbl_type"),
            _c("hours", Kind.INT),
            _c("employer_naics", required=False),
            _c("paid"),
        ),
        key=("student_id", "school_year", "wbl_type", "employer_naics"),
        year_column="school_year",
        district_column="district_code",
        description="Work-based learning experiences.",
    ),
    Extract(
        "school_expenditures",
        Family.FINANCE,
        (
            _c("fiscal_year", Kind.INT),
            DISTRICT,
            LOCATION,
            _c("fund"),
            _c("function"),
            _c("object"),
            _c("program_code"),
            _c("amount", Kind.DECIMAL),
        ),
        year_column="fiscal_year",
        district_column="district_code",
        description="School-site actual expenditures on the Uniform Chart of Accounts.",
    ),
    Extract(
        "grant_awards",
        Family.FINANCE,
        (
            _c("fiscal_year", Kind.INT),
            DISTRICT,
            _c("program"),
            _c("amount", Kind.DECIMAL),
        ),
        key=("fiscal_year", "district_code", "program"),
        year_column="fiscal_year",
        state_level=True,
        description="CTE grant awards per district (NextGen CTE, Perkins, ...), from PED.",
    ),
    Extract(
        "oews_wages",
        Family.LABOR_MARKET,
        (
            _c("area"),
            _c("area_title", Kind.TEXT),
            _c("area_type"),
            _c("occ_code"),
            _c("occ_title", Kind.TEXT),
            _c("o_group"),
            _c("tot_emp", Kind.BLS_NUMBER, required=False),
            _c("a_mean", Kind.BLS_NUMBER, required=False),
            _c("a_median", Kind.BLS_NUMBER, required=False),
            _c("a_pct10", Kind.BLS_NUMBER, required=False),
            _c("a_pct90", Kind.BLS_NUMBER, required=False),
        ),
        key=("area", "occ_code"),
        state_level=True,
        release_kinds=("state", "metro", "nonmetro"),
        formats=(".csv", ".csv.gz", ".parquet", ".xlsx"),
        description="BLS OEWS state and area wages; the workbook loads as BLS publishes it.",
    ),
    Extract(
        "occupational_projections",
        Family.LABOR_MARKET,
        (
            _c("area"),
            _c("soc_code"),
            _c("occ_title", Kind.TEXT),
            _c("base_year", Kind.INT),
            _c("proj_year", Kind.INT),
            # Publishers write N/A where a figure is not published: loaded as null.
            _c("base_emp", Kind.INT, required=False),
            _c("proj_emp", Kind.INT, required=False),
            _c("annual_openings", Kind.INT, required=False),
            # Projections Central has none; the BLS education table (below) gives it.
            _c("typical_education", Kind.TEXT, required=False),
        ),
        key=("area", "soc_code"),
        state_level=True,
        formats=(".csv", ".csv.gz", ".parquet", ".xlsx"),
        description=(
            "Long-term occupational projections; also Projections Central's download and "
            "REST rows as published (no typical_education: see education_assignments)."
        ),
    ),
    Extract(
        "education_assignments",
        Family.LABOR_MARKET,
        (
            _c("soc_code"),
            _c("occ_title", Kind.TEXT),
            _c("typical_education", Kind.TEXT),
            _c("work_experience", Kind.TEXT, required=False),
            _c("job_training", Kind.TEXT, required=False),
        ),
        key=("soc_code",),
        state_level=True,
        # A national table: named education_assignments__national__<base year>__<ts>.
        release_kinds=("national",),
        formats=(".csv", ".csv.gz", ".parquet", ".xlsx"),
        description=(
            "BLS Employment Projections' education and training assignments by detailed "
            "occupation (typical education needed for entry), as BLS publishes it."
        ),
    ),
    Extract(
        "wage_records",
        Family.LABOR_MARKET,
        (
            STUDENT_ID,
            _c("year", Kind.INT),
            _c("quarter", Kind.INT),
            _c("employer_naics"),
            _c("wages", Kind.DECIMAL),
        ),
        key=("student_id", "year", "quarter", "employer_naics"),
        year_column="year",
        state_level=True,
        description="UI wage records matched to former students; many rows per student.",
    ),
    Extract(
        "postsecondary_enrollment",
        Family.LABOR_MARKET,
        (
            STUDENT_ID,
            _c("term_start", Kind.DATE),
            _c("institution_id"),
            _c("institution_type"),
            _c("in_state"),
        ),
        key=("student_id", "term_start", "institution_id"),
        state_level=True,
        # The Clearinghouse's return (as "state") reports colleges, not apprenticeships: those
        # come in a file of their own kind, so neither replaces the other.
        release_kinds=("state", "apprenticeship"),
        description=(
            "Postsecondary enrollments of former students; also the National Student "
            "Clearinghouse StudentTracker detail return as NSC writes it."
        ),
    ),
    Extract(
        "military_enlistment",
        Family.LABOR_MARKET,
        (STUDENT_ID, _c("enlist_date", Kind.DATE)),
        key=("student_id",),
        state_level=True,
        optional=True,
        description="Military enlistments of former students (rarely complete; optional).",
    ),
)

EXTRACTS_BY_NAME: dict[str, Extract] = {e.name: e for e in EXTRACTS}


def get_extract(name: str) -> Extract:
    try:
        return EXTRACTS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown extract {name!r}; known: {sorted(EXTRACTS_BY_NAME)}") from None


# The Perkins V secondary core indicators (measures.md), in the marts' order.
INDICATORS = ("1S1", "1S2", "2S1", "2S2", "2S3", "3S1", "4S1", "5S1", "5S2", "5S3")
ALLOCATION = "the simulated allocation"


@dataclass(frozen=True)
class Feeds:
    """What an extract's rows feed in the marts, for the report's "what the errors cost"
    (decision 0023): who or what its rows describe, the indicators whose populations or
    numerators they decide, and the other marts, in the words a district reads."""

    population: str
    indicators: tuple[str, ...] = ()
    marts: tuple[str, ...] = ()


_PLACEMENT = Feeds("leavers' placement", ("3S1",), ("program outcomes", "program continuum"))
_LABOR_MARKET = Feeds("labor-market data", (), ("labor-market alignment", "program outcomes"))
FEEDS: dict[str, Feeds] = {
    "student_enrollment": Feeds(
        "enrolled students, and so CTE participants and concentrators",
        INDICATORS,
        (ALLOCATION, "equity gaps", "cost per student"),
    ),
    "cte_course_enrollment": Feeds(
        "CTE participants and concentrators", INDICATORS, (ALLOCATION, "program continuum")
    ),
    "assessment_results": Feeds("graduates' assessment results", ("2S1", "2S2", "2S3")),
    "program_quality_review": Feeds("program quality reviews", (), ("program quality", ALLOCATION)),
    "credential_attainment": Feeds(
        "credentials earned", ("5S1",), ("credential attainment", ALLOCATION)
    ),
    "work_based_learning": Feeds("work-based learning", ("5S3",), ("program continuum",)),
    "school_expenditures": Feeds("CTE spending", (), ("cost per student",)),
    "grant_awards": Feeds("grant awards", (), (ALLOCATION,)),
    "oews_wages": _LABOR_MARKET,
    "occupational_projections": _LABOR_MARKET,
    "education_assignments": _LABOR_MARKET,
    "wage_records": _PLACEMENT,
    "postsecondary_enrollment": _PLACEMENT,
    "military_enlistment": _PLACEMENT,
}
