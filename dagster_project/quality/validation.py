"""Run an extract's Great Expectations suite over one (extract, year) batch.

Called by the loader once per batch, before it writes; what the results hold or block, and
their table, are the gate's (gate.py). One GX run covers every submission (manifest) in the
batch. GX returns the positions of the failing rows (``unexpected_index_list``, also when
``mostly`` lets the expectation pass); they are mapped back to ``_manifest_id`` and
``_source_row`` here, which is what makes per-submission counts and the row quarantine
possible.

Why not ``ValidationDefinition.run`` with ``unexpected_index_column_names``: that looks the
named columns up one row at a time and then stores (deep-copies) the whole result, failing
values included; at 300,000 failing rows it took 110 s. The GX validator is called directly
instead (the same call ``ValidationDefinition.run`` makes, minus the store), in an in-memory
context, with ``exclude_unexpected_values``; only a sanitized copy of the result (counts, no
values) leaves this module, for Data Docs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import TYPE_CHECKING

import polars as pl

from dagster_project.contracts import Extract
from dagster_project.quality.gate import RESULT_SCHEMA
from dagster_project.quality.suites import (
    ERROR,
    SCHOOL_KEY,
    CodeSets,
    Rule,
    read_code_sets,
    rules,
    suite_json,
    suite_parameters,
)

# Great Expectations is imported where a batch is validated: importing it takes seconds (it
# pulls in pyspark when installed), and every Dagster run process, sensor tick and `cte`
# command imports this module while only loads validate.
if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
    )

INDEX_COLUMNS = ["_manifest_id", "_source_row"]
RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "exclude_unexpected_values": True,
    "partial_unexpected_count": 0,
    "return_unexpected_index_query": False,
}
# The only parts of a GX expectation result that may leave this module: counts, no values.
SAFE_RESULT_KEYS = frozenset(
    {
        "element_count",
        "unexpected_count",
        "unexpected_percent",
        "missing_count",
        "missing_percent",
        "unexpected_percent_total",
        "unexpected_percent_nonmissing",
    }
)
QUARANTINE_SCHEMA = {
    "_manifest_id": pl.Int64,
    "_source_row": pl.Int64,
    "column_name": pl.String,
    "reason_code": pl.String,
    "message": pl.String,
}


class QualityGateError(RuntimeError):
    """An expectation could not be evaluated at all (a suite or frame defect, not bad data)."""


@dataclass
class BatchResult:
    extract: str
    year: int
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA: one row per (row, failed ERROR expectation)
    warnings: pl.DataFrame  # QUARANTINE_SCHEMA: one row per (row, failed WARN expectation)
    results: pl.DataFrame  # gate.RESULT_SCHEMA: one row per (manifest, expectation)
    gx_result: ExpectationSuiteValidationResult  # sanitized: counts only, for Data Docs


# -- the in-memory GX context ---------------------------------------------------------------


@cache
def _context() -> gx.data_context.AbstractDataContext:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.data_sources.add_pandas("cte_frames")
    return context


@cache
def _batch_and_suite(extract_name: str) -> tuple[BatchDefinition, gx.ExpectationSuite]:
    import great_expectations as gx

    context = _context()
    asset = context.data_sources.get("cte_frames").add_dataframe_asset(extract_name)
    batch = asset.add_batch_definition_whole_dataframe(f"{extract_name}_batch")
    return batch, context.suites.add(gx.ExpectationSuite(**suite_json(extract_name)))


def _run_suite(extract_name: str, year: int, pdf, params: dict) -> ExpectationSuiteValidationResult:
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.validator.v1_validator import Validator

    batch, suite = _batch_and_suite(extract_name)
    validator = Validator(
        batch_definition=batch, batch_parameters={"dataframe": pdf}, result_format=RESULT_FORMAT
    )
    result = validator.validate_expectation_suite(suite, params)
    run_id = RunIdentifier(run_name=f"{extract_name}-{year}", run_time=datetime.now(UTC))
    result.meta["run_id"] = run_id
    result.meta["validation_time"] = run_id.run_time
    return result


# -- frame preparation ------------------------------------------------------------------------


def _to_pandas(frame: pl.DataFrame):
    """GX's pandas engine vectorizes range checks only on floats and datetime64[ns]."""
    if {"district_code", "location_code"} <= set(frame.columns):
        frame = frame.with_columns(
            pl.concat_str("district_code", pl.lit(":"), "location_code").alias(SCHOOL_KEY)
        )
    frame = frame.with_columns(
        pl.col(pl.Decimal).cast(pl.Float64), pl.col(pl.Date).cast(pl.Datetime("ns"))
    )
    return frame.to_pandas()


# -- turning the GX result into the gate's answer ----------------------------------------------


def _failing_rows(result: dict, index: pl.DataFrame) -> pl.DataFrame:
    """The failing rows' (_manifest_id, _source_row), from GX's row positions."""
    positions = result.get("unexpected_index_list") or []
    return index[pl.Series(positions, dtype=pl.UInt32)] if positions else index.clear()


def _check_evaluated(extract: str, rule: Rule, outcome) -> None:
    info = outcome.exception_info or {}
    raised = info.get("raised_exception") or any(
        isinstance(v, dict) and v.get("raised_exception") for v in info.values()
    )
    if raised:
        messages = [info.get("exception_message")] + [
            v.get("exception_message") for v in info.values() if isinstance(v, dict)
        ]
        detail = next((m for m in messages if m), "unknown error")
        raise QualityGateError(f"{extract}: expectation {rule.name} could not run: {detail}")


def _rule_results(
    extract: str, rule: Rule, failing: pl.DataFrame, rows_per_manifest: pl.DataFrame
) -> pl.DataFrame:
    """Per-manifest counts; a submission fails a rule when its failing share of rows exceeds
    1 - mostly (no ``mostly``: any failing row)."""
    tolerance = 1 - (rule.mostly if rule.mostly is not None else 1.0)
    counts = failing.group_by("_manifest_id").agg(pl.len().alias("unexpected_count"))
    return (
        rows_per_manifest.join(counts, on="_manifest_id", how="left")
        .with_columns(pl.col("unexpected_count").fill_null(0).cast(pl.Int64))
        .with_columns(
            (100.0 * pl.col("unexpected_count") / pl.col("element_count")).alias(
                "unexpected_percent"
            )
        )
        .select(
            pl.col("_manifest_id").alias("manifest_id"),
            pl.lit(extract).alias("extract"),
            pl.lit(extract).alias("suite"),
            pl.lit(rule.name).alias("expectation"),
            pl.lit(rule.column, pl.String).alias("column_name"),
            pl.lit(rule.severity).alias("severity"),
            pl.lit(rule.reason_code).alias("reason_code"),
            pl.lit(rule.message).alias("description"),
            (pl.col("unexpected_count") <= tolerance * pl.col("element_count")).alias("success"),
            pl.col("element_count").cast(pl.Int64),
            "unexpected_count",
            "unexpected_percent",
        )
    )


def _quarantine_rows(rule: Rule, failing: pl.DataFrame) -> pl.DataFrame:
    return failing.with_columns(
        pl.lit(rule.column, pl.String).alias("column_name"),
        pl.lit(rule.reason_code).alias("reason_code"),
        pl.lit(rule.message).alias("message"),
    )


def _sanitize(result: ExpectationSuiteValidationResult) -> ExpectationSuiteValidationResult:
    for outcome in result.results:
        outcome.result = {k: v for k, v in outcome.result.items() if k in SAFE_RESULT_KEYS}
    markers = result.meta.get("batch_markers") or {}
    markers.pop("pandas_data_fingerprint", None)  # a hash of the rows, personal IDs included
    return result


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    if not frames:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return pl.concat(frames).cast(QUARANTINE_SCHEMA)


def validate_batch(
    extract: Extract,
    frame: pl.DataFrame,
    year: int,
    today: date,
    *,
    code_sets: CodeSets | None = None,
) -> BatchResult:
    """Validate every submission of one (extract, year) batch in a single GX run.

    ``frame`` holds the stored contract columns plus _manifest_id, _source_row, _file_year.
    ``code_sets`` defaults to the dbt seeds (dbt/seeds/*.csv).
    """
    params = suite_parameters(year, today, code_sets or read_code_sets())
    outcome = _run_suite(extract.name, year, _to_pandas(frame), params)
    index = frame.select(pl.col(INDEX_COLUMNS).cast(pl.Int64))
    rows_per_manifest = frame.group_by("_manifest_id").agg(pl.len().alias("element_count"))
    suite_rules = rules(extract.name)
    by_id = {r.expectation_config.meta["rule"]: r for r in outcome.results}
    quarantine, warnings, results = [], [], []
    for rule in suite_rules:
        gx_outcome = by_id[rule.name]
        _check_evaluated(extract.name, rule, gx_outcome)
        failing = _failing_rows(gx_outcome.result, index)
        results.append(_rule_results(extract.name, rule, failing, rows_per_manifest))
        if failing.height:
            # ERROR rows are set aside; WARN rows load and are listed for the district.
            (quarantine if rule.severity == ERROR else warnings).append(
                _quarantine_rows(rule, failing)
            )
    return BatchResult(
        extract=extract.name,
        year=year,
        quarantine=_concat(quarantine),
        warnings=_concat(warnings),
        results=pl.concat(results).cast(RESULT_SCHEMA).sort("manifest_id", maintain_order=True),
        gx_result=_sanitize(outcome),
    )
