"""Great Expectations Data Docs, built from sanitized results and made to work offline.

The file project (expectations/gx) supplies the suites and writes the site to
``<reports>/data_docs`` (``${CTE_REPORTS_DIR}`` in great_expectations.yml). Results enter
its store already stripped of values (validation.py), and pages are rebuilt once per call,
so the loader calls this once per load, not per file.

GX pages pull Bootstrap, jQuery, Vega and fonts from public CDNs; the PED machines may have
no internet, so every external script and stylesheet is removed and a small vendored
stylesheet is inlined instead. Suite and validation pages are static tables, readable
without the scripts. The home page's two tables (validation results, expectation suites)
are empty ``<table>`` elements that bootstrap-table fills from data in an inline script;
those are written out as plain HTML tables here (issue 24), sorted as the script would.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from dagster_project.quality.validation import BatchResult
from dagster_project.settings import EXPECTATIONS_DIR

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
# bootstrap-table's call on the home page: $('#ID').bootstrapTable(Object.assign({columns:
# [...], data: [...], toolbar: '...'}, {...options...})); GX writes the lists as Python
# literals.
_TABLE_CALL = re.compile(
    r"<script>\s*\$\('#(?P<id>[\w-]+)'\)\.bootstrapTable\(\s*Object\.assign\(\s*\{\s*"
    r"columns:\s*(?P<columns>\[.*?\]),\s*data:\s*(?P<data>\[.*?\]),\s*toolbar:[^\n]*\n"
    r"\s*\},\s*(?P<options>\{.*?\})\s*\)\s*\);.*?</script>",
    re.S,
)
# The helper functions beside it (row styles, filters), and its "Clear Filters" toolbar.
_TABLE_HELPERS = re.compile(r"<script>(?:(?!</script>).)*?bootstrapTable\(.*?</script>", re.S)
_TABLE_TOOLBAR = re.compile(r"<div id=\"[\w-]+-toolbar\"[^>]*>.*?</div>", re.S)


def _context(reports_dir: Path) -> gx.data_context.AbstractDataContext:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx.get_context(
        mode="file",
        project_root_dir=EXPECTATIONS_DIR,
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


def _sort_key(columns: list[dict], options: dict):
    """The column bootstrap-table sorts by (its hidden ``sortName`` field if it has one)."""
    field = options.get("sortName") or columns[0]["field"]
    column = next((c for c in columns if c["field"] == field), {})
    key = column.get("sortName", field)
    return lambda row: (row.get(key) is None, row.get(key))


def _static_table(table_id: str, columns: list[dict], rows: list[dict], options: dict) -> str:
    """The table bootstrap-table would draw. Cell values are GX's own HTML snippets, inserted
    as bootstrap-table inserts them; each row's link goes on its run name (or first cell)."""
    rows = sorted(rows, key=_sort_key(columns, options), reverse=options.get("sortOrder") == "desc")
    link_field = "run_name" if any(c["field"] == "run_name" for c in columns) else None
    link_field = link_field or columns[0]["field"]
    head = "".join(f"<th>{c['title']}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = str(row.get(column["field"], ""))
            link = row.get("_table_row_link_path")
            if column["field"] == link_field and link and "<a " not in value:
                value = f'<a href="{link}">{value}</a>'
            cells.append(f"<td>{value}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table id="{table_id}" class="table-sm ge-static-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def render_index_tables(html: str) -> str:
    """Fill the home page's script-drawn tables with their rows, and drop those scripts."""
    tables = {}

    def collect(match: re.Match) -> str:
        columns, data, options = (
            ast.literal_eval(match.group(k)) for k in ("columns", "data", "options")
        )
        tables[match.group("id")] = _static_table(match.group("id"), columns, data, options)
        return ""

    html = _TABLE_CALL.sub(collect, html)
    for table_id, table in tables.items():
        empty = re.compile(rf'<table\s+id="{re.escape(table_id)}"[^>]*>\s*</table>', re.S)
        html = empty.sub(lambda _, t=table: t, html)
    if tables:
        html = _TABLE_HELPERS.sub("", html)
        html = _TABLE_TOOLBAR.sub("", html)
    return html


def make_offline(html: str, css: str) -> str:
    """Drop CDN scripts and stylesheets and any off-machine URL; inline the local stylesheet;
    draw the script-drawn tables."""
    html = render_index_tables(html)
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
