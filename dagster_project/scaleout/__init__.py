"""Scale-out: the same dbt models on Spark, the raw schema exported to Parquet for it, and
the Spark marts read back for publishing (docs/scale-out.md)."""
