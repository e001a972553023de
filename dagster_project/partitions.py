"""School-year partitions: a year appears when the first file for it lands."""

import dagster as dg

school_years = dg.DynamicPartitionsDefinition(name="school_year")
