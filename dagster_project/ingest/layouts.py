"""Publisher layouts: files as their senders release them, read into the contract's columns.

The contract (contracts.py) names each extract's canonical columns. Some senders publish
their own layout of the same facts: Projections Central's download and REST rows, BLS
Employment Projections' education assignments table, the Clearinghouse's StudentTracker
return. A ``Layout`` says which of the publisher's header names fill which contract column,
which values mean "no value", how a value becomes the contract's (a YYYYMMDD date, a code),
and which rows hold no record at all (a student the Clearinghouse did not find). The reader
picks the layout by the header (``find_layout``) and hands the rest of the load (casts,
leading zeros, structural rules, the quality gate, the manifest) a frame in the contract's
columns, as if the file had been pre-shaped: there is one loader, and a layout is data.

Header names are compared as ``header_name`` writes them: lower case, single spaces, no
footnote marks (``(1)``, ``[2]``, ``*``) and no leading release year (BLS heads a column
``2023 National Employment Matrix code``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import polars as pl

from dagster_project.contracts import EXTRACTS_BY_NAME, Extract
from dagster_project.settings import dbt_var

_FOOTNOTE = re.compile(r"(\s*(\(\d{1,2}\)|\[\d{1,2}\]|\*+|[\u00b9\u00b2\u00b3\u2070-\u2079]+))+$")
_LEADING_YEAR = re.compile(r"^(19|20)\d{2}\s+")
# A SOC code Excel read as a month and year (11-2011 is November 2011) and stored as the
# first of that month: unambiguous in a workbook, where the whole date is kept.
_SOC_AS_DATE = re.compile(r"^(?P<year>\d{4})-(?P<month>0[1-9]|1[0-2])-01( 00:00:00(\.0+)?)?$")
SOC_COLUMNS = ("soc_code", "occ_code")
# Set by ``Layout.select`` on a row that is no record of the extract: what the row is, as the
# manifest note counts it (the reader leaves such rows out; decision 0021).
NOT_RECORD = "_not_record"


def header_name(text: str | None) -> str:
    """A header cell as layouts compare it (see the module docstring)."""
    name = " ".join(str(text or "").replace("\n", " ").split()).lower()
    name = _FOOTNOTE.sub("", name).strip()
    return _LEADING_YEAR.sub("", name)


@dataclass(frozen=True)
class NotARecord:
    """Rows of a layout that hold no record of the extract, known by one column's value:
    read and counted in the manifest's notes, not loaded and not set aside as faults."""

    column: str  # the publisher's header name (header_name form)
    values: tuple[str, ...]  # upper case, compared after stripping blanks
    what: str  # as the manifest note names them: "skipped 3 {what}"


@dataclass(frozen=True)
class Layout:
    """One publisher's layout of an extract."""

    name: str
    extract: str
    title: str  # as the manifest note names it
    # contract column -> the publisher's header names for it (header_name form); with
    # several, the first non-empty value of those present is taken
    columns: Mapping[str, tuple[str, ...]]
    # values that mean "no value" in this layout (compared after stripping blanks)
    nulls: tuple[str, ...] = ()
    # contract column -> how a text value becomes the contract's text value
    values: Mapping[str, Callable[[pl.Expr], pl.Expr]] = field(default_factory=dict)
    # rows that are no record of the extract (the first rule that applies names the row)
    not_records: tuple[NotARecord, ...] = ()

    @property
    def spec(self) -> Extract:
        return EXTRACTS_BY_NAME[self.extract]

    def missing(self, header: list[str]) -> list[str]:
        """Publisher header names of which none is present, one per contract column."""
        present = set(header)
        return [names[0] for names in self.columns.values() if not present & set(names)]

    def share_present(self, header: list[str]) -> float:
        return 1 - len(self.missing(header)) / len(self.columns)

    def select(self, frame: pl.DataFrame, header: list[str]) -> pl.DataFrame:
        """``frame`` (text, one column per header position) in the contract's columns;
        a contract column the layout does not carry is null. With ``not_records``, a
        ``NOT_RECORD`` column says which rows are none (null for a record)."""
        positions: dict[str, int] = {}
        for i, name in enumerate(header):
            positions.setdefault(name, i)
        out = []
        for column in self.spec.column_names:
            names = [n for n in self.columns.get(column, ()) if n in positions]
            if not names:
                out.append(pl.lit(None, pl.String).alias(column))
                continue
            parts = [self._cleaned(pl.col(frame.columns[positions[n]])) for n in names]
            value = pl.coalesce(parts) if len(parts) > 1 else parts[0]
            if column in self.values:
                value = self.values[column](value)
            out.append(value.alias(column))
        rules = [r for r in self.not_records if r.column in positions]
        if rules:
            what = pl.lit(None, pl.String)
            for rule in reversed(rules):
                given = self._cleaned(pl.col(frame.columns[positions[rule.column]]))
                what = (
                    pl.when(given.str.to_uppercase().is_in(rule.values))
                    .then(pl.lit(rule.what))
                    .otherwise(what)
                )
            out.append(what.alias(NOT_RECORD))
        return frame.select(out)

    def _cleaned(self, value: pl.Expr) -> pl.Expr:
        text = value.cast(pl.String).str.strip_chars()
        empty = text.eq("")
        if self.nulls:
            empty = empty | text.is_in(list(self.nulls))
        return pl.when(empty).then(None).otherwise(text)


# -- value rules shared by layouts ---------------------------------------------------------


def soc_from_excel_date(value: pl.Expr) -> pl.Expr:
    """A SOC code back from the date Excel made of it (2011-11-01 -> 11-2011)."""
    parts = value.str.extract_groups(_SOC_AS_DATE.pattern)
    restored = pl.concat_str(parts.struct.field("month"), pl.lit("-"), parts.struct.field("year"))
    return pl.when(value.str.contains(_SOC_AS_DATE.pattern)).then(restored).otherwise(value)


def restore_soc_codes(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """SOC columns with Excel's dates turned back into codes, and a note per column."""
    notes, fixes = [], []
    for column in SOC_COLUMNS:
        if column not in frame.columns:
            continue
        dated = frame.filter(pl.col(column).str.strip_chars().str.contains(_SOC_AS_DATE.pattern))
        if not dated.height:
            continue
        example = dated[column][0].strip()
        fixed = frame.select(soc_from_excel_date(pl.col(column).str.strip_chars()))
        restored = dated.select(soc_from_excel_date(pl.col(column).str.strip_chars())).item(0, 0)
        notes.append(
            f"{column}: {dated.height:,} code(s) a spreadsheet had turned into dates were "
            f"restored (e.g. {example[:10]} -> {restored})"
        )
        fixes.append(fixed.to_series().alias(column))
    return (frame.with_columns(fixes) if fixes else frame), notes


def _whole_number(value: pl.Expr) -> pl.Expr:
    """A count a workbook stored as a float (1234.0) or with thousands separators."""
    return value.str.replace_all(",", "").str.replace(r"\.0+$", "")


def _date_text(value: pl.Expr) -> pl.Expr:
    """A date as STARS writes it (YYYY-MM-DD or MM/DD/YYYY; a workbook's timestamp too)."""
    day = value.str.slice(0, 10)
    return pl.coalesce(
        day.str.to_date("%Y-%m-%d", strict=False), value.str.to_date("%m/%d/%Y", strict=False)
    )


def _spring_year(value: pl.Expr) -> pl.Expr:
    """STARS' SCHOOL YEAR DATE as the contract's school year (the spring year): a date from
    July on belongs to the school year that ends the next June. Text that is no date is
    kept, so the type rule sets the row aside and shows it."""
    day = _date_text(value)
    year = day.dt.year() + (day.dt.month() >= 7).cast(pl.Int32)
    return pl.when(day.is_null()).then(value).otherwise(year.cast(pl.String))


def _cip_from_number(value: pl.Expr) -> pl.Expr:
    """STARS' CIP CODE is a number: 470604, 47.0604, or as a spreadsheet keeps it, 1.0101
    for 01.0101 and 47.06 for 47.0600. As a number its zeros carry no meaning, so they are
    restored (the contract's text code is ``NN.NNNN``); anything else is kept as given."""
    digits = value.str.contains(r"^\d{5,6}$")
    decimal = value.str.contains(r"^\d{1,2}\.\d{1,4}$")
    six = value.str.zfill(6)
    whole = value.str.extract(r"^(\d{1,2})\.", 1).str.zfill(2)
    fraction = value.str.extract(r"\.(\d{1,4})$", 1).str.pad_end(4, "0")
    return (
        pl.when(digits)
        .then(pl.concat_str(six.str.slice(0, 2), pl.lit("."), six.str.slice(2, 4)))
        .when(decimal)
        .then(pl.concat_str(whole, pl.lit("."), fraction))
        .otherwise(value)
    )


def _iso_date(value: pl.Expr) -> pl.Expr:
    day = _date_text(value)
    return pl.when(day.is_null()).then(value).otherwise(day.dt.to_string("%Y-%m-%d"))


def _from_yyyymmdd(value: pl.Expr) -> pl.Expr:
    """A date as the Clearinghouse writes it (20240826) in the contract's form; text that
    is no such date is kept, so the type rule sets the row aside and shows it."""
    day = value.str.to_date("%Y%m%d", strict=False)
    return (
        pl.when(value.str.contains(r"^\d{8}$") & day.is_not_null())
        .then(day.dt.to_string("%Y-%m-%d"))
        .otherwise(value)
    )


# The Clearinghouse's 2-year / 4-year: L is a less-than-2-year institution (certificate
# programs: the contract's TECH). Anything else is kept for the code rule to show.
_NSC_INSTITUTION_TYPES = {"4": "4YR", "2": "2YR", "L": "TECH"}


def _nsc_institution_type(value: pl.Expr) -> pl.Expr:
    return value.str.to_uppercase().replace(_NSC_INSTITUTION_TYPES)


def _in_state(value: pl.Expr) -> pl.Expr:
    """College State (a postal code) as the contract's in_state: Y in the state's own."""
    state = value.str.to_uppercase()
    return (
        pl.when(value.is_null())
        .then(None)
        .when(state == dbt_var("state_postal_code"))
        .then(pl.lit("Y"))
        .otherwise(pl.lit("N"))
    )


# -- the layouts ---------------------------------------------------------------------------

PROJECTIONS_CENTRAL = Layout(
    name="projections_central",
    extract="occupational_projections",
    title="Projections Central download",
    columns={
        "area": ("state fips",),
        "soc_code": ("occupation code",),
        "occ_title": ("occupation name",),
        "base_year": ("base year",),
        "proj_year": ("projected year",),
        "base_emp": ("base",),
        "proj_emp": ("projection",),
        "annual_openings": ("average annual openings",),
    },
    nulls=("N/A", "NA", "n/a", "-", "--"),
    values={c: _whole_number for c in ("base_emp", "proj_emp", "annual_openings")},
)

PROJECTIONS_CENTRAL_REST = Layout(
    name="projections_central_rest",
    extract="occupational_projections",
    title="Projections Central REST rows",
    columns={
        # 'Area' in these rows is the area's name; its code is STFIPS.
        "area": ("stfips",),
        "soc_code": ("occcode",),
        "occ_title": ("title",),
        "base_year": ("baseyear",),
        "proj_year": ("projyear",),
        "base_emp": ("base",),
        "proj_emp": ("projected",),
        "annual_openings": ("avgannualopenings",),
    },
    nulls=PROJECTIONS_CENTRAL.nulls,
    values=PROJECTIONS_CENTRAL.values,
)

BLS_EDUCATION_ASSIGNMENTS = Layout(
    name="bls_education_assignments",
    extract="education_assignments",
    title="BLS Employment Projections education and training assignments table",
    columns={
        "soc_code": ("national employment matrix code", "occupation code", "matrix code"),
        "occ_title": ("national employment matrix title", "occupation title", "matrix title"),
        "typical_education": (
            "typical education needed for entry",
            "education category",
        ),
        "work_experience": ("work experience in a related occupation",),
        "job_training": (
            "typical on-the-job training needed to attain competency in the occupation",
            "on-the-job training",
        ),
    },
    nulls=("\u2014", "\u2013"),  # BLS writes an em dash where no category applies
)

# PED's CTE Student Industry Credential template: eight fields, one record per district,
# school year, student and credential; no verified flag, name or issuer (the credential
# counts when its code is on PED's list for the school year: seed ped_credential_list).
STARS_INDUSTRY_CREDENTIAL = Layout(
    name="stars_industry_credential",
    extract="credential_attainment",
    title="STARS CTE Student Industry Credential template",
    columns={
        "district_code": ("district code",),
        "school_year": ("school year date",),
        "student_id": ("student id",),
        "location_code": ("location code",),
        "cip_code": ("cip code", "cip code (number)"),
        "delivery_method": ("delivery method code", "delivery method code (cg/is)"),
        "credential_code": ("industry credential code",),
        "earned_date": ("credential earned date",),
    },
    values={
        "school_year": _spring_year,
        "cip_code": _cip_from_number,
        "earned_date": _iso_date,
        "delivery_method": lambda v: v.str.to_uppercase(),
    },
)

# The National Student Clearinghouse's StudentTracker detail return: one row per enrollment
# period a college reported, so many per student; a degree on a row of its own; a student not
# found on one row with no college. Names are in the file and never read (only the columns
# below are). The student ID travels as the requester return field (or, where a state put
# it there, Your Unique Identifier) and is pseudonymized like every other.
NSC_STUDENTTRACKER = Layout(
    name="nsc_studenttracker",
    extract="postsecondary_enrollment",
    title="National Student Clearinghouse StudentTracker detail return",
    columns={
        "student_id": ("requester return field", "your unique identifier"),
        "term_start": ("enrollment begin",),
        "institution_id": ("college code/branch",),
        "institution_type": ("2-year / 4-year",),
        "in_state": ("college state",),
    },
    values={
        "term_start": _from_yyyymmdd,
        "institution_type": _nsc_institution_type,
        "in_state": _in_state,
    },
    not_records=(
        NotARecord(
            "record found y/n",
            ("N",),
            "row(s) of students the Clearinghouse did not find (Record Found N): no enrollment",
        ),
        NotARecord(
            "graduated?",
            ("Y",),
            "degree row(s) (Graduated? Y): a credential earned, not an enrollment period",
        ),
    ),
)

LAYOUTS: tuple[Layout, ...] = (
    PROJECTIONS_CENTRAL,
    PROJECTIONS_CENTRAL_REST,
    BLS_EDUCATION_ASSIGNMENTS,
    STARS_INDUSTRY_CREDENTIAL,
    NSC_STUDENTTRACKER,
)


def layouts_for(extract: Extract) -> tuple[Layout, ...]:
    return tuple(layout for layout in LAYOUTS if layout.extract == extract.name)


def find_layout(extract: Extract, header: list[str]) -> Layout | None:
    """The publisher layout whose every column the header carries; None for the contract's
    own layout (or when neither fits: the contract's header check then says why)."""
    names = [header_name(h) for h in header]
    if not [c for c in extract.column_names if c not in header]:
        return None  # the contract's own names come first: a pre-shaped file stays one
    for layout in layouts_for(extract):
        if not layout.missing(names):
            return layout
    return None


def closest_layout(extract: Extract, header: list[str]) -> Layout | None:
    """A publisher layout the header mostly fits (at least half of its columns)."""
    names = [header_name(h) for h in header]
    scored = [(layout.share_present(names), layout) for layout in layouts_for(extract)]
    best = max(scored, key=lambda s: s[0], default=(0.0, None))
    return best[1] if best[0] >= 0.5 else None


def known_aliases(extract: Extract) -> dict[str, str]:
    """Publisher header name -> the contract column it fills, over the extract's layouts."""
    return {
        name: column
        for layout in layouts_for(extract)
        for column, names in layout.columns.items()
        for name in names
    }
