"""Synthetic New Mexico CTE extracts for development, tests and the benchmark.

    python -m dagster_project.sample_data --scale sample --years 3 --seed 7

See docs/sample-data.md for what is simulated, the planted effects and the defects.
"""

from dagster_project.sample_data.defects import write_defects
from dagster_project.sample_data.generator import generate, truth_path

__all__ = ["generate", "truth_path", "write_defects"]
