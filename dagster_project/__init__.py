"""New Mexico CTE effectiveness warehouse: Dagster code location."""
