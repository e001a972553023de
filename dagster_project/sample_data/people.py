"""Who the students are: New Mexico-shaped demographics, special-population flags and
names (names carry ñ and accents, as the real extracts do)."""

from __future__ import annotations

import numpy as np

SEXES = np.array(["F", "M", "X"])
SEX_P = (0.488, 0.507, 0.005)
RACES = np.array(
    ["HISPANIC", "AMERICAN_INDIAN", "WHITE", "BLACK", "ASIAN", "MULTIRACIAL", "PACIFIC_ISLANDER"]
)
HISPANIC, AMERICAN_INDIAN, WHITE = 0, 1, 2
# Shares of the students who are not American Indian (the AI share is set per district).
NON_AI_RACE_P = np.array([0.700, 0.0, 0.225, 0.024, 0.016, 0.032, 0.003])
FLAG_NAMES = (
    "economically_disadvantaged",
    "disability",
    "english_learner",
    "homeless",
    "foster_care",
    "military_connected",
    "migrant",
    "single_parent",
)
ECON, DISABILITY, EL, HOMELESS, FOSTER, MILITARY, MIGRANT, SINGLE_PARENT = range(8)

SURNAMES = {
    HISPANIC: "Martínez García Sánchez Chávez Lucero Baca Montoya Romero Trujillo Gallegos Padilla "
    "Vigil Archuleta Maestas Muñoz Peña Ortiz Jaramillo Gonzales Apodaca Herrera Tafoya Valdez "
    "Córdova Domínguez Núñez Armijo Griego Ulibarrí Quintana Sandoval Salazar Espinoza Ibáñez",
    AMERICAN_INDIAN: "Begay Yazzie Benally Tsosie Nez Chee Etsitty Tso Yellowhorse Lente "
    "Chavarria Bowannie Cachini Toya Loretto Sarracino Largo Joe Manuelito Attakai",
    WHITE: "Smith Johnson Miller Davis Brown Wilson Anderson Taylor Thomas Moore Clark Lewis "
    "Walker Hall Young Allen King Wright Baker Nelson",
    3: "Washington Jackson Harris Robinson Thompson Williams Jones Coleman Brooks Freeman",
    4: "Nguyen Tran Kim Patel Chen Le Lee Pham Singh Wong",
    5: "Martínez-Smith García-Begay Romero-Clark Baca-Johnson Lucero-Yazzie Montoya-Brown",
    6: "Kealoha Tupou Fifita Taufa Mahoe Leota",
}
FIRST_NAMES = {
    "F": "Sofía Isabella Mía Camila Valeria Ximena Emily Ava Aaliyah Nizhoni Ashley María "
    "Jazmín Natalia Leilani Angélica Daniela Brianna Kaylee Jocelyn Shandiin Abigail Lucía Begoña",
    "M": "Mateo Santiago Diego José Jesús Liam Noah Elijah Julián Adrián Ángel Isaac Gabriel "
    "Ethan Josiah Dominic Xavier Tristan Dineh Joaquín Andrés Ignacio Nicolás Aiden",
    "X": "Alex Jordan River Sky Rowan Avery Quinn Remy",
}


def pick_names(
    rng: np.random.Generator, race: np.ndarray, sex: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    last = np.empty(race.size, dtype=object)
    for code, names in SURNAMES.items():
        mask = race == code
        pool = np.array(names.split(), dtype=object)
        last[mask] = pool[rng.integers(0, pool.size, mask.sum())]
    first = np.empty(race.size, dtype=object)
    for code, names in FIRST_NAMES.items():
        mask = SEXES[sex] == code
        pool = np.array(names.split(), dtype=object)
        first[mask] = pool[rng.integers(0, pool.size, mask.sum())]
    return last, first


def draw_race(rng: np.random.Generator, ai_share: np.ndarray) -> np.ndarray:
    """Race/ethnicity code per student given the American Indian share of their school."""
    ai = rng.random(ai_share.size) < ai_share
    other = rng.choice(RACES.size, size=ai_share.size, p=NON_AI_RACE_P)
    return np.where(ai, AMERICAN_INDIAN, other).astype(np.int8)


def draw_flags(
    rng: np.random.Generator, race: np.ndarray, rural: np.ndarray, military_area: np.ndarray
) -> np.ndarray:
    """The eight Y/N special-population flags (bool [student, flag]) at plausible NM rates."""
    n = race.size
    u = rng.random((n, 8))
    hisp, ai, white = race == HISPANIC, race == AMERICAN_INDIAN, race == WHITE
    flags = np.empty((n, 8), dtype=bool)
    econ_p = 0.66 + 0.14 * ai + 0.04 * hisp - 0.22 * white + 0.05 * rural
    flags[:, ECON] = u[:, ECON] < econ_p
    flags[:, DISABILITY] = u[:, DISABILITY] < 0.17
    flags[:, EL] = u[:, EL] < np.where(hisp, 0.18, np.where(ai, 0.26, 0.04))
    flags[:, HOMELESS] = u[:, HOMELESS] < np.where(flags[:, ECON], 0.04, 0.008)
    flags[:, FOSTER] = u[:, FOSTER] < 0.006
    flags[:, MILITARY] = u[:, MILITARY] < np.where(military_area, 0.07, 0.015)
    flags[:, MIGRANT] = u[:, MIGRANT] < np.where(hisp & rural, 0.035, 0.005)
    flags[:, SINGLE_PARENT] = u[:, SINGLE_PARENT] < 0.02
    return flags
