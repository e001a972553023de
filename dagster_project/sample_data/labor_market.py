"""OEWS wages and long-term projections for the occupations the programs lead to.

Figures are New Mexico-shaped (May 2024 levels, moved by a yearly wage and employment
trend); suppressed and top-coded cells carry the BLS flags (``*``, ``**``, ``#``). The
latest year's files are written as their publishers release them: the OEWS workbook, the
Projections Central download (a broad occupation with N/A openings, and SOC codes Excel
turned into dates) and BLS Employment Projections' education assignments table (title
row, footnote marks, notes below the table).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import xlsxwriter

from dagster_project.contracts import get_extract

NO_FORMAL = "No formal educational credential"
HS = "High school diploma or equivalent"
PSND = "Postsecondary nondegree award"
SOME = "Some college, no degree"
ASSOC = "Associate's degree"
BACH = "Bachelor's degree"
# SOC: (title, NM annual median May 2024, NM employment, typical education, 10-year growth)
OCCUPATIONS: dict[str, tuple[str, int, int, str, float]] = {
    "11-1021": ("General and Operations Managers", 98000, 14500, BACH, 0.06),
    "11-9013": ("Farmers, Ranchers, and Other Agricultural Managers", 72000, 1100, HS, -0.02),
    "11-9081": ("Lodging Managers", 58000, 350, HS, 0.05),
    "13-1081": ("Logisticians", 78000, 1300, BACH, 0.18),
    "13-1121": ("Meeting, Convention, and Event Planners", 50000, 600, BACH, 0.08),
    "13-1161": ("Market Research Analysts and Marketing Specialists", 60000, 2400, BACH, 0.13),
    "13-1199": ("Business Operations Specialists, All Other", 72000, 7800, BACH, 0.06),
    "13-2011": ("Accountants and Auditors", 74000, 5600, BACH, 0.06),
    "13-2072": ("Loan Officers", 62000, 1700, BACH, 0.03),
    "15-1211": ("Computer Systems Analysts", 90000, 2100, BACH, 0.11),
    "15-1212": ("Information Security Analysts", 105000, 900, BACH, 0.33),
    "15-1231": ("Computer Network Support Specialists", 62000, 1300, ASSOC, 0.07),
    "15-1232": ("Computer User Support Specialists", 48000, 4200, SOME, 0.06),
    "15-1244": ("Network and Computer Systems Administrators", 82000, 1900, BACH, 0.02),
    "15-1252": ("Software Developers", 112000, 3900, BACH, 0.18),
    "15-1254": ("Web Developers", 70000, 400, BACH, 0.08),
    "17-1011": ("Architects, Except Landscape and Naval", 82000, 500, BACH, 0.05),
    "17-2141": ("Mechanical Engineers", 105000, 1600, BACH, 0.10),
    "17-3011": ("Architectural and Civil Drafters", 56000, 600, ASSOC, -0.02),
    "17-3013": ("Mechanical Drafters", 60000, 150, ASSOC, -0.03),
    "17-3023": (
        "Electrical and Electronic Engineering Technologists and Technicians",
        72000,
        900,
        ASSOC,
        0.02,
    ),
    "19-1031": ("Conservation Scientists", 68000, 450, BACH, 0.04),
    "19-4012": ("Agricultural Technicians", 40000, 200, ASSOC, 0.03),
    "19-4042": (
        "Environmental Science and Protection Technicians, Including Health",
        48000,
        700,
        ASSOC,
        0.07,
    ),
    "21-1093": ("Social and Human Service Assistants", 38000, 4800, HS, 0.09),
    "23-2011": ("Paralegals and Legal Assistants", 50000, 2300, ASSOC, 0.01),
    "25-2011": ("Preschool Teachers, Except Special Education", 36000, 2800, ASSOC, 0.03),
    "25-2021": ("Elementary School Teachers, Except Special Education", 66000, 8700, BACH, 0.01),
    "25-2031": (
        "Secondary School Teachers, Except Special and Career/Technical Education",
        67000,
        6500,
        BACH,
        0.01,
    ),
    "25-9045": ("Teaching Assistants, Except Postsecondary", 28500, 6800, SOME, 0.01),
    "27-1014": ("Special Effects Artists and Animators", 64000, 250, BACH, 0.08),
    "27-1024": ("Graphic Designers", 48000, 900, BACH, 0.03),
    "27-4011": ("Audio and Video Technicians", 46000, 800, PSND, 0.07),
    "27-4021": ("Photographers", 38000, 500, PSND, 0.04),
    "27-4032": ("Film and Video Editors", 62000, 450, BACH, 0.07),
    "29-1141": ("Registered Nurses", 88000, 17500, BACH, 0.06),
    "29-2042": ("Emergency Medical Technicians", 38000, 1600, PSND, 0.05),
    "29-2043": ("Paramedics", 50000, 600, PSND, 0.05),
    "29-2052": ("Pharmacy Technicians", 40000, 2300, HS, 0.06),
    "29-2056": ("Veterinary Technologists and Technicians", 38000, 600, ASSOC, 0.19),
    "29-2061": ("Licensed Practical and Licensed Vocational Nurses", 58000, 1500, PSND, 0.03),
    "31-1131": ("Nursing Assistants", 35000, 6200, PSND, 0.04),
    "31-9092": ("Medical Assistants", 37000, 4100, PSND, 0.14),
    "31-9096": ("Veterinary Assistants and Laboratory Animal Caretakers", 30000, 700, HS, 0.18),
    "31-9097": ("Phlebotomists", 37000, 900, PSND, 0.08),
    "33-2011": ("Firefighters", 48000, 2300, PSND, 0.04),
    "33-2022": ("Forest Fire Inspectors and Prevention Specialists", 48000, 120, HS, 0.05),
    "33-3012": ("Correctional Officers and Jailers", 45000, 3900, HS, -0.07),
    "33-3051": ("Police and Sheriff's Patrol Officers", 62000, 5100, HS, 0.03),
    "35-1011": ("Chefs and Head Cooks", 48000, 900, HS, 0.06),
    "35-1012": (
        "First-Line Supervisors of Food Preparation and Serving Workers",
        38000,
        6900,
        HS,
        0.06,
    ),
    "35-2014": ("Cooks, Restaurant", 32000, 10400, NO_FORMAL, 0.10),
    "37-3011": ("Landscaping and Groundskeeping Workers", 32000, 4600, NO_FORMAL, 0.04),
    "39-5012": ("Hairdressers, Hairstylists, and Cosmetologists", 30000, 1800, PSND, 0.07),
    "39-9011": ("Childcare Workers", 27000, 3700, HS, -0.02),
    "41-1011": ("First-Line Supervisors of Retail Sales Workers", 42000, 6800, HS, -0.04),
    "41-2031": ("Retail Salespersons", 30000, 21000, NO_FORMAL, -0.02),
    "41-4012": (
        "Sales Representatives, Wholesale and Manufacturing, Except Technical and Scientific "
        "Products",
        58000,
        4800,
        HS,
        0.01,
    ),
    "43-1011": (
        "First-Line Supervisors of Office and Administrative Support Workers",
        56000,
        7200,
        HS,
        -0.01,
    ),
    "43-3031": ("Bookkeeping, Accounting, and Auditing Clerks", 41000, 6900, SOME, -0.05),
    "43-3071": ("Tellers", 34000, 2300, HS, -0.12),
    "43-4061": ("Eligibility Interviewers, Government Programs", 42000, 1600, HS, 0.02),
    "43-4081": ("Hotel, Motel, and Resort Desk Clerks", 28000, 1900, HS, 0.03),
    "43-4131": ("Loan Interviewers and Clerks", 39000, 900, HS, -0.04),
    "43-5031": ("Public Safety Telecommunicators", 42000, 1200, HS, 0.03),
    "43-6014": (
        "Secretaries and Administrative Assistants, Except Legal, Medical, and Executive",
        38000,
        12500,
        HS,
        -0.08,
    ),
    "45-2091": ("Agricultural Equipment Operators", 36000, 500, NO_FORMAL, 0.02),
    "45-2092": (
        "Farmworkers and Laborers, Crop, Nursery, and Greenhouse",
        29000,
        3100,
        NO_FORMAL,
        -0.01,
    ),
    "45-2093": ("Farmworkers, Farm, Ranch, and Aquacultural Animals", 31000, 1200, NO_FORMAL, 0.01),
    "45-4011": ("Forest and Conservation Workers", 33000, 150, HS, 0.02),
    "47-1011": (
        "First-Line Supervisors of Construction Trades and Extraction Workers",
        68000,
        3600,
        HS,
        0.04,
    ),
    "47-2031": ("Carpenters", 46000, 4300, HS, 0.04),
    "47-2061": ("Construction Laborers", 39000, 8900, NO_FORMAL, 0.07),
    "47-2111": ("Electricians", 56000, 4200, HS, 0.11),
    "47-2152": ("Plumbers, Pipefitters, and Steamfitters", 54000, 2900, HS, 0.06),
    "47-2231": ("Solar Photovoltaic Installers", 45000, 450, HS, 0.48),
    "47-5071": ("Roustabouts, Oil and Gas", 44000, 2200, NO_FORMAL, -0.05),
    "49-3011": ("Aircraft Mechanics and Service Technicians", 66000, 700, PSND, 0.05),
    "49-3021": ("Automotive Body and Related Repairers", 45000, 900, HS, 0.02),
    "49-3023": ("Automotive Service Technicians and Mechanics", 45000, 4300, PSND, 0.04),
    "49-3031": (
        "Bus and Truck Mechanics and Diesel Engine Specialists",
        55000,
        1800,
        HS,
        0.04,
    ),
    "49-9021": (
        "Heating, Air Conditioning, and Refrigeration Mechanics and Installers",
        50000,
        2000,
        PSND,
        0.09,
    ),
    "49-9041": ("Industrial Machinery Mechanics", 56000, 1500, HS, 0.15),
    "49-9081": ("Wind Turbine Service Technicians", 60000, 250, PSND, 0.60),
    "51-2041": ("Structural Metal Fabricators and Fitters", 44000, 300, HS, 0.01),
    "51-4041": ("Machinists", 48000, 700, HS, 0.03),
    "51-4121": ("Welders, Cutters, Solderers, and Brazers", 47000, 2200, HS, 0.02),
    "51-8013": ("Power Plant Operators", 88000, 400, HS, -0.15),
    "51-9161": ("Computer Numerically Controlled Tool Operators", 44000, 250, HS, 0.01),
    "53-2011": ("Airline Pilots, Copilots, and Flight Engineers", 170000, 300, BACH, 0.05),
    "53-3032": ("Heavy and Tractor-Trailer Truck Drivers", 52000, 9800, PSND, 0.04),
    "53-7062": (
        "Laborers and Freight, Stock, and Material Movers, Hand",
        36000,
        10500,
        NO_FORMAL,
        0.06,
    ),
}
ANNUAL_ONLY = {"25-2021", "25-2031", "25-9045", "53-2011"}
MAJOR_GROUPS = {
    "11": "Management Occupations",
    "13": "Business and Financial Operations Occupations",
    "15": "Computer and Mathematical Occupations",
    "17": "Architecture and Engineering Occupations",
    "19": "Life, Physical, and Social Science Occupations",
    "21": "Community and Social Service Occupations",
    "23": "Legal Occupations",
    "25": "Educational Instruction and Library Occupations",
    "27": "Arts, Design, Entertainment, Sports, and Media Occupations",
    "29": "Healthcare Practitioners and Technical Occupations",
    "31": "Healthcare Support Occupations",
    "33": "Protective Service Occupations",
    "35": "Food Preparation and Serving Related Occupations",
    "37": "Building and Grounds Cleaning and Maintenance Occupations",
    "39": "Personal Care and Service Occupations",
    "41": "Sales and Related Occupations",
    "43": "Office and Administrative Support Occupations",
    "45": "Farming, Fishing, and Forestry Occupations",
    "47": "Construction and Extraction Occupations",
    "49": "Installation, Maintenance, and Repair Occupations",
    "51": "Production Occupations",
    "53": "Transportation and Material Moving Occupations",
}
ALL_OCCUPATIONS = ("00-0000", "All Occupations", 47000, 838000, HS, 0.04)
SEPARATION_RATE = {NO_FORMAL: 0.14, HS: 0.12, PSND: 0.11, SOME: 0.11, ASSOC: 0.09, BACH: 0.08}
# area, title, area_type, share of state employment, wage factor, share of occupations shown
AREAS = (
    ("35", "New Mexico", "2", 1.0, 1.0, 1.0),
    ("10740", "Albuquerque, NM", "4", 0.46, 1.03, 0.97),
    ("29740", "Las Cruces, NM", "4", 0.10, 0.92, 0.85),
    ("42140", "Santa Fe, NM", "4", 0.08, 1.06, 0.80),
    ("22140", "Farmington, NM", "4", 0.06, 1.00, 0.70),
    ("3500001", "Northern New Mexico nonmetropolitan area", "6", 0.09, 0.92, 0.75),
    ("3500002", "Eastern New Mexico nonmetropolitan area", "6", 0.14, 0.96, 0.80),
)
TOP_CODE = 239_200  # BLS shows '#' for annual wages at or above this
WAGE_TREND, EMPLOYMENT_TREND = 1.035, 1.008
BLS_COLUMNS = [
    "AREA",
    "AREA_TITLE",
    "AREA_TYPE",
    "PRIM_STATE",
    "NAICS",
    "NAICS_TITLE",
    "I_GROUP",
    "OWN_CODE",
    "OCC_CODE",
    "OCC_TITLE",
    "O_GROUP",
    "TOT_EMP",
    "EMP_PRSE",
    "JOBS_1000",
    "LOC_QUOTIENT",
    "PCT_TOTAL",
    "PCT_RPT",
    "H_MEAN",
    "A_MEAN",
    "MEAN_PRSE",
    "H_PCT10",
    "H_PCT25",
    "H_MEDIAN",
    "H_PCT75",
    "H_PCT90",
    "A_PCT10",
    "A_PCT25",
    "A_MEDIAN",
    "A_PCT75",
    "A_PCT90",
    "ANNUAL",
    "HOURLY",
]
PERCENTILES = {"pct10": 0.62, "pct25": 0.78, "median": 1.0, "pct75": 1.30, "pct90": 1.75}


def occupation_rows(soc_codes: list[str]) -> list[tuple[str, str, str, int, int, str, float]]:
    """(code, title, o_group, median, employment, education, growth): the detailed SOCs,
    their major groups and the all-occupations total."""
    detailed = [(s, *OCCUPATIONS[s]) for s in sorted(soc_codes)]
    rows = [(s, t, "detailed", m, e, ed, g) for s, t, m, e, ed, g in detailed]
    for major in sorted({s[:2] for s in soc_codes}):
        members = [r for r in detailed if r[0][:2] == major]
        emp = sum(r[3] for r in members)
        wage = sum(r[2] * r[3] for r in members) / emp
        growth = sum(r[5] * r[3] for r in members) / emp
        rows.append(
            (f"{major}-0000", MAJOR_GROUPS[major], "major", round(wage * 0.97), emp * 3, HS, growth)
        )
    code, title, median, emp, edu, growth = ALL_OCCUPATIONS
    rows.append((code, title, "total", median, emp, edu, growth))
    return rows


def oews(soc_codes: list[str], year: int, seed: int) -> list[dict[str, object]]:
    """One record per area and occupation with every BLS field (numbers, or a flag)."""
    rng = np.random.default_rng([seed, year, 7])
    wage_level = WAGE_TREND ** (year - 2024)
    emp_level = EMPLOYMENT_TREND ** (year - 2024)
    out = []
    for area, title, area_type, share, wage_factor, coverage in AREAS:
        area_total = ALL_OCCUPATIONS[3] * share * emp_level
        for code, occ_title, group, median, emp, _edu, _g in occupation_rows(soc_codes):
            if group == "detailed" and rng.random() > coverage:
                continue  # not every occupation is estimated in every area
            sub_state = area_type != "2"
            tot_emp = emp * share * emp_level * rng.uniform(0.85, 1.15)
            wages = {
                k: median * wage_level * wage_factor * f * rng.uniform(0.97, 1.03)
                for k, f in PERCENTILES.items()
            }
            wages["mean"] = wages["median"] * 1.12
            rec: dict[str, object] = {
                "AREA": area,
                "AREA_TITLE": title,
                "AREA_TYPE": area_type,
                "OCC_CODE": code,
                "OCC_TITLE": occ_title,
                "O_GROUP": group,
                "TOT_EMP": "**"
                if sub_state and group == "detailed" and rng.random() < 0.06
                else int(round(tot_emp, -1)),
                "EMP_PRSE": round(rng.uniform(2, 15), 1),
                "JOBS_1000": round(tot_emp / area_total * 1000, 3),
                "LOC_QUOTIENT": round(rng.uniform(0.5, 2.0), 2) if group != "total" else None,
                "MEAN_PRSE": round(rng.uniform(1, 6), 1),
                "ANNUAL": "TRUE" if code in ANNUAL_ONLY else None,
            }
            suppressed = sub_state and group == "detailed" and rng.random() < 0.04
            for k, v in wages.items():
                annual = "A_MEDIAN" if k == "median" else f"A_{k.upper()}"
                hourly = "H_MEDIAN" if k == "median" else f"H_{k.upper()}"
                rec[annual] = "*" if suppressed else "#" if v >= TOP_CODE else int(round(v, -1))
                no_hourly = suppressed or code in ANNUAL_ONLY
                rec[hourly] = "*" if no_hourly else "#" if v >= TOP_CODE else round(v / 2080, 2)
            out.append(rec)
    return out


def oews_frame(records: list[dict[str, object]]) -> pl.DataFrame:
    """The contract's lower-case columns, as text (numbers or the BLS flags)."""
    cols = get_extract("oews_wages").column_names
    data = {c: [None if r[c.upper()] is None else str(r[c.upper()]) for r in records] for c in cols}
    return pl.DataFrame(data, schema=dict.fromkeys(cols, pl.String))


# BLS releases the state, metropolitan and nonmetropolitan ("balance of state") estimates
# as separate workbooks: the release kind in the landing name, the AREA_TYPEs, the sheet.
OEWS_WORKBOOKS = {"state": (("2",), "state"), "metro": (("4",), "MSA"), "nonmetro": (("6",), "BOS")}


def oews_of_kind(records: list[dict[str, object]], kind: str) -> list[dict[str, object]]:
    """The records of one release kind's file (state, metro or nonmetro)."""
    area_types, _sheet = OEWS_WORKBOOKS[kind]
    return [r for r in records if r["AREA_TYPE"] in area_types]


def write_oews_xlsx(records: list[dict[str, object]], path: Path, year: int, kind: str) -> int:
    """One of the workbooks as BLS publishes it (``kind``: state, metro or nonmetro), with
    its areas' records: data on the first sheet, upper-case headers."""
    records = oews_of_kind(records, kind)
    sheet_prefix = OEWS_WORKBOOKS[kind][1]
    fixed = {
        "PRIM_STATE": "NM",
        "NAICS": "000000",
        "NAICS_TITLE": "Cross-industry",
        "I_GROUP": "cross-industry",
        "OWN_CODE": 1235,
        "PCT_TOTAL": None,
        "PCT_RPT": None,
        "HOURLY": None,
    }
    workbook = xlsxwriter.Workbook(str(path))
    # A fixed creation time keeps the bytes the same for the same seed.
    workbook.set_properties({"created": datetime(year + 1, 3, 31)})
    sheet = workbook.add_worksheet(f"{sheet_prefix}_M{year}_dl")
    sheet.write_row(0, 0, BLS_COLUMNS)
    for i, rec in enumerate(records, start=1):
        sheet.write_row(i, 0, [fixed[c] if c in fixed else rec.get(c) for c in BLS_COLUMNS])
    notes = workbook.add_worksheet("Field Descriptions")
    notes.write_row(0, 0, ["Field", "Field Description"])
    notes.write_row(1, 0, ["*", "Indicates that a wage estimate is not available"])
    notes.write_row(2, 0, ["**", "Indicates that an employment estimate is not available"])
    notes.write_row(
        3,
        0,
        ["#", "Indicates a wage equal to or greater than $115.00 per hour or $239,200 per year"],
    )
    workbook.close()
    return len(records)


def projections(soc_codes: list[str], year: int, seed: int) -> pl.DataFrame:
    """Statewide ten-year projections from `year`, with annual openings from growth plus
    separations (higher for occupations that need less education)."""
    rng = np.random.default_rng([seed, year, 8])
    rows = []
    for code, title, group, _median, emp, edu, growth in occupation_rows(soc_codes):
        if group == "major":
            continue
        base = round(emp * EMPLOYMENT_TREND ** (year - 2024) * rng.uniform(0.95, 1.05))
        proj = round(base * (1 + growth + rng.normal(0, 0.01)))
        openings = round(base * SEPARATION_RATE[edu] + (proj - base) / 10)
        rows.append(("35", code, title, year, year + 10, base, proj, max(openings, 0), edu))
    return pl.DataFrame(
        rows, schema=get_extract("occupational_projections").column_names, orient="row"
    )


# Projections Central's download columns (ingest/layouts.py reads them).
PROJECTIONS_CENTRAL_COLUMNS = [
    "State FIPS",
    "Area Name",
    "Occupation Code",
    "Occupation Name",
    "Base Year",
    "Base",
    "Projected Year",
    "Projection",
    "Change",
    "Percent Change",
    "Average Annual Openings",
]
# A broad occupation as Projections Central lists it beside its detailed ones.
BROAD = ("15-1250", "Software and Web Developers, Programmers, and Testers")
# Excel reads a code like 11-9013 as November 9013 and keeps the date.
_EXCEL_MONTHS = {f"{m:02d}" for m in range(1, 13)}


def _excel_code(sheet, row: int, col: int, code: str, date_format) -> None:
    """A SOC code as a workbook saved from Excel holds it: a date where it reads as one."""
    month, rest = code.split("-")
    if month in _EXCEL_MONTHS and 1900 <= int(rest) <= 9999:
        sheet.write_datetime(row, col, datetime(int(rest), int(month), 1), date_format)
    else:
        sheet.write_string(row, col, code)


def write_projections_central_xlsx(frame: pl.DataFrame, path: Path, year: int) -> int:
    """The projections as Projections Central's download, opened and saved in Excel."""
    workbook = xlsxwriter.Workbook(str(path))
    workbook.set_properties({"created": datetime(year, 9, 1)})
    month_year = workbook.add_format({"num_format": "mmm-yy"})
    sheet = workbook.add_worksheet("Long Term")
    sheet.write_row(0, 0, PROJECTIONS_CENTRAL_COLUMNS)
    rows = frame.rows(named=True)
    detailed = [r for r in rows if r["soc_code"][:6] == BROAD[0][:6]]
    if detailed:  # the broad group's figures; its openings are not published
        rows.append(
            rows[0]
            | {
                "soc_code": BROAD[0],
                "occ_title": BROAD[1],
                "base_emp": sum(r["base_emp"] for r in detailed),
                "proj_emp": sum(r["proj_emp"] for r in detailed),
                "annual_openings": "N/A",
            }
        )
    for i, r in enumerate(rows, start=1):
        change = r["proj_emp"] - r["base_emp"]
        sheet.write_row(
            i,
            0,
            [
                int(r["area"]),
                "New Mexico",
                None,
                r["occ_title"],
                r["base_year"],
                r["base_emp"],
                r["proj_year"],
                r["proj_emp"],
                change,
                round(100 * change / r["base_emp"], 1) if r["base_emp"] else "N/A",
                r["annual_openings"],
            ],
        )
        _excel_code(sheet, i, 2, r["soc_code"], month_year)
    workbook.close()
    return len(rows)


def education_assignments(soc_codes: list[str]) -> list[tuple[str, str, str]]:
    """(code, title, typical education) of the detailed occupations, as BLS assigns them."""
    return [(s, OCCUPATIONS[s][0], OCCUPATIONS[s][3]) for s in sorted(soc_codes)]


def write_education_xlsx(soc_codes: list[str], path: Path, year: int) -> int:
    """BLS Employment Projections' Table 5.4 as BLS publishes it: a title row, a header
    with the matrix year and footnote marks, the table, then notes and the source."""
    workbook = xlsxwriter.Workbook(str(path))
    workbook.set_properties({"created": datetime(year + 1, 9, 1)})
    sheet = workbook.add_worksheet("Table 5.4")
    sheet.write(
        0, 0, f"Table 5.4 Education and training assignments by detailed occupation, {year}"
    )
    sheet.write_row(
        2,
        0,
        [
            f"{year} National Employment Matrix title",
            f"{year} National Employment Matrix code",
            "Typical education needed for entry(1)",
            "Work experience in a related occupation(2)",
            "Typical on-the-job training needed to attain competency in the occupation(3)",
        ],
    )
    month_year = workbook.add_format({"num_format": "mmm-yy"})
    rows = education_assignments(soc_codes)
    for i, (code, title, education) in enumerate(rows, start=3):
        sheet.write_row(i, 0, [title, None, education, "None", "None"])
        _excel_code(sheet, i, 1, code, month_year)
    last = 3 + len(rows)
    sheet.write(last + 1, 0, "Footnotes:")
    sheet.write(last + 2, 0, "(1) Typical level of education needed to enter the occupation.")
    sheet.write(last + 3, 0, "(2) Work experience commonly considered necessary by employers.")
    sheet.write(last + 4, 0, "(3) Typical on-the-job training needed to attain competency.")
    source = "Source: Employment Projections program, U.S. Bureau of Labor Statistics"
    sheet.write(last + 6, 0, source)
    workbook.close()
    return len(rows)
