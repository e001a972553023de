"""Great Expectations Data Docs, built from sanitized results and made to work offline.

The file project (expectations/gx) supplies the suites and writes the site to
``<reports>/data_docs`` (``${CTE_REPORTS_DIR}`` in great_expectations.yml). Results enter
its store already stripped of values (validation.py), and pages are rebuilt once per call,
so the loader calls this once per load, not per file.

GX pages pull Bootstrap, jQuery, Vega and fonts from public CDNs; the PED machines may have
no internet, so every external script and stylesheet is removed and a small vendored
stylesheet is inlined instead. The pages are static tables, readable without the scripts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from dagster_project.quality.validation import BatchResult
from dagster_project.settings import get_settings

if TYPE_CHECKING:  # imported when docs are built: see quality/validation.py
    import great_expectations as gx
    from great_expectations.data_context.types.resource_identifiers import (
        ValidationResultIdentifier,
    )

_EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>", re.I)
_EXTERNAL_LINK = re.compile(r"<link[^>]*\bhref=\"https?://[^\"]*\"[^>]*/?>", re.I)
# Anchors and images pointing off the machine (GX logo, docs, Slack): keep the text only.
_EXTERNAL_HREF = re.compile(r"\b(href|src)=\"https?://[^\"]*\"", re.I)
_EXTERNAL_CSS_URL = re.compile(r"url\(\s*['\"]?https?://[^)]*\)", re.I)
_STYLESHEET = "static/data_docs.css"


def _context(reports_dir: Path) -> gx.data_context.AbstractDataContext:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx.get_context(
        mode="file",
        project_root_dir=get_settings().expectations_dir,
        runtime_environment={"CTE_REPORTS_DIR": str(reports_dir)},
    )


def _result_key(result: BatchResult) -> ValidationResultIdentifier:
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    return ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=result.extract),
        run_id=result.gx_result.meta["run_id"],
        batch_identifier=f"{result.extract}-{result.year}",
    )


def make_offline(html: str, css: str) -> str:
    """Drop CDN scripts and stylesheets and any off-machine URL; inline the local stylesheet."""
    html = _EXTERNAL_SCRIPT.sub("", html)
    html = _EXTERNAL_LINK.sub("", html)
    html = _EXTERNAL_HREF.sub(lambda m: f'{m.group(1)}="#"', html)
    html = _EXTERNAL_CSS_URL.sub("none", html)
    return html.replace("</head>", f"<style>{css}</style></head>", 1)


def publish_data_docs(results: Iterable[BatchResult], reports_dir: Path) -> Path:
    """Store the batches' sanitized results, rebuild Data Docs; return the site's index page."""
    context = _context(reports_dir)
    for result in results:
        context.validation_results_store.set(_result_key(result), result.gx_result)
    context.build_data_docs()
    site = reports_dir / "data_docs"
    css = files("dagster_project.quality").joinpath(_STYLESHEET).read_text(encoding="utf-8")
    for page in site.rglob("*.html"):
        page.write_text(make_offline(page.read_text(encoding="utf-8"), css), encoding="utf-8")
    for sheet in site.rglob("*.css"):
        text = sheet.read_text(encoding="utf-8")
        sheet.write_text(_EXTERNAL_CSS_URL.sub("none", text), encoding="utf-8")
    return site / "index.html"
