"""Ingest: landed files -> the raw schema of the working warehouse (polars + pyarrow)."""
