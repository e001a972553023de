"""The Dagster code location (`dg dev`, the daemon, each run's process load this module):
the one place it reads the settings, then hands them down (code_location.py)."""

import dagster as dg

from dagster_project.code_location import build_definitions
from dagster_project.settings import disable_telemetry, get_settings

disable_telemetry()

defs: dg.Definitions = build_definitions(get_settings())
