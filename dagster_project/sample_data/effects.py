"""The effects the generator plants, so the marts can be checked against a known truth.

Each effect is added for concentrators on top of what an otherwise-identical
non-concentrator gets (same school, cohort, sex, race/ethnicity, economic disadvantage,
disability, English learner status and prior proficiency): concentration is drawn from
those traits only, never from the outcome, so an exact matched comparison recovers the
effect and a naive one does not.
"""

from __future__ import annotations

# Instructional dollars per student (fund 11000, function 1000) a CTE-heavy high school
# spends above other high schools, in every fiscal year.
CTE_HEAVY_INSTRUCTION_PER_STUDENT = 1_000.0
# Percentage points added to the probability of graduating within four years
# (on or before June 30 of cohort_year).
GRADUATION_PP = 8.0
# Percentage points added to the probability of being placed (3S1 definition) in the
# second quarter after exit, for leavers of the same exit type.
PLACEMENT_PP = 10.0
# Dollars added to every quarterly UI wage record of a concentrator.
EARNINGS_QUARTERLY_DOLLARS = 900.0

MATCHED_ON = (
    "school",
    "cohort_year",
    "sex",
    "race_ethnicity",
    "economically_disadvantaged",
    "disability",
    "english_learner",
    "prior_proficiency",
)
