"""Targets, and the Markdown table written beside the JSON result."""

from __future__ import annotations

from typing import Any

GIB = 1024**3


def _size(scale: str, years: int) -> str:
    return f"{scale}, {years} yr"


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the measured figure (None when not measured) and whether it is met."""
    rows: list[dict[str, Any]] = []

    def add(name: str, where: str, limit: float, measured: float | None, unit: str) -> None:
        met = None if measured is None else measured <= limit
        rows.append(
            {"target": name, "at": where, "limit": limit, "measured": measured, "unit": unit}
            | {"met": met}
        )

    growth = result.get("growth", {}).get("points", [])
    nm = [p for p in growth if p["scale"] == "state"]
    nm_point = max(nm, key=lambda p: p["years"]) if nm else None
    large = next((p for p in growth if p["scale"] == "large"), None)
    main = result.get("full_rebuild", {})
    config = result["config"]
    main_size = _size(config["scale"], config["years"])
    if nm_point:
        where = _size("state", nm_point["years"])
        add("full rebuild / floor at NM", where, 3.0, nm_point.get("ratio_to_floor"), "x")
        add("peak memory at NM", where, 4.0, nm_point.get("peak_rss_gib"), "GiB")
    if large:
        where = _size("large", large["years"])
        add("full rebuild / floor at 10x NM", where, 1.5, large.get("ratio_to_floor"), "x")
        add("peak memory at 10x NM", where, 16.0, large.get("peak_rss_gib"), "GiB")
    if not nm_point and main:
        ratio = result.get("floor", {}).get("ratio_full_rebuild_to_floor")
        add("full rebuild / floor (NM target)", main_size, 3.0, ratio, "x")
        add("peak memory (NM target)", main_size, 4.0, main.get("peak_rss_gib"), "GiB")
    resub = result.get("resubmission", {})
    if resub:
        add("resubmission to published", main_size, 60.0, resub.get("seconds"), "s")
        add("resubmission / full rebuild", main_size, 0.10, resub.get("share_of_full_rebuild"), "")
    validation = result.get("validation", {})
    if validation:
        add("validation / load time", main_size, 0.20, validation.get("share_of_load"), "")
    analyst = result.get("analyst", {})
    for key, label in (("idle", "analyst p95, idle"), ("under_load", "analyst p95, load running")):
        if analyst.get(key, {}).get("p95_ms") is not None:
            add(label, main_size, 100.0, analyst[key]["p95_ms"], "ms")
    return rows


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        text = f"{value:.3f}" if abs(value) < 1 else f"{value:,.1f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{text} {unit}".strip()


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    c = result["config"]
    lines = [
        f"# Benchmark {result['date']}: {c['scale']} scale, {c['years']} school years",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gib']} GiB memory, "
        f"Linux {m['kernel']}, Python {m['python']}. Load average (1/5/15 min) "
        f"{m['load_average_at_start']} at start, {m.get('load_average_at_end')} at end"
        + (" (other work shared the CPU)." if m["load_average_at_start"][0] > 1.5 else "."),
        f"Commit {result.get('code_version', 'n/a')}; seed {c['seed']}; "
        f"wall time of the benchmark {_fmt(result.get('benchmark_seconds'), 's')}.",
        "",
    ]
    d = result.get("dataset")
    if d:
        lines += [
            f"Data: {d['file_count']:,} files, {d['bytes'] / 1e6:,.0f} MB, "
            f"{d['rows_total']:,} rows "
            f"(student_enrollment {d['rows'].get('student_enrollment', 0):,}).",
            "",
        ]
    lines += ["## Targets", "", "| target | at | limit | measured | met |", "|---|---|---|---|---|"]
    for t in result.get("targets", []):
        met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
        lines.append(
            f"| {t['target']} | {t['at']} | {_fmt(t['limit'], t['unit'])} | "
            f"{_fmt(t['measured'], t['unit'])} | {met} |"
        )
    full = result.get("full_rebuild")
    if full:
        lines += [
            "",
            "## Full rebuild (`cte run` in a fresh home)",
            "",
            "| stage | seconds | share |",
            "|---|---|---|",
        ]
        wall = full["wall_seconds"]
        for stage, seconds in full.get("stages", {}).items():
            lines.append(f"| {stage} | {_fmt(seconds)} | {seconds / wall:.0%} |")
        lines += [
            f"| **end to end** | **{_fmt(wall)}** | {'ok' if full['ok'] else 'FAILED'} |",
            f"| CPU time of the process tree | {_fmt(full.get('cpu_seconds'))} | |",
            "",
            f"Peak RSS of the process tree: {_fmt(full['peak_rss_gib'], 'GiB')}. Ingest "
            f"breakdown (s): {full.get('ingest_breakdown')}.",
        ]
    prof = (full or {}).get("profile")
    if prof:
        lines += [
            "",
            f"Profile (py-spy, {prof['seconds_sampled']:,} s of busy time sampled in all "
            "processes):",
            "",
            "| where | seconds | share |",
            "|---|---|---|",
        ]
        for name, v in prof["by_category"].items():
            lines.append(f"| {name} | {_fmt(v['seconds'])} | {v['share']:.0%} |")
    floor = result.get("floor")
    if floor:
        cc = floor.get("cross_check", {})
        lines += [
            "",
            "## Floor (floor.sql: read every CSV once, compute the key results)",
            "",
            f"Floor {_fmt(floor['seconds'], 's')} (peak {_fmt(floor['peak_rss_gib'], 'GiB')}); "
            f"full rebuild / floor = **{_fmt(floor.get('ratio_full_rebuild_to_floor'), 'x')}** "
            f"in wall time, {_fmt(floor.get('cpu_ratio_full_rebuild_to_floor'), 'x')} in CPU "
            f"time ({_fmt(full.get('cpu_seconds') if full else None, 's')} against "
            f"{_fmt(floor.get('cpu_seconds'), 's')}).",
        ]
        if cc:
            per_level = ", ".join(
                f"{level} {v['agree']:,}/{v['cells']:,}" for level, v in cc["levels"].items()
            )
            lines += [
                f"Cross-check against the marts (all students, all programs): {cc['agree']:,} "
                f"of {cc['cells']:,} cells agree ({cc['agreement_share']:.1%}; {per_level}).",
                "",
                "| year | indicator (state) | floor num/den | marts num/den | agree |",
                "|---|---|---|---|---|",
            ]
            for e in cc["state_examples"]:
                lines.append(
                    f"| {e['school_year']} | {e['indicator']} | {e['floor'][0]}/{e['floor'][1]} "
                    f"| {e['marts'][0]}/{e['marts'][1]} | {'yes' if e['agree'] else '**no**'} |"
                )
    resub = result.get("resubmission")
    if resub:
        lines += [
            "",
            "## Resubmission through the sensor path",
            "",
            f"District {resub.get('district')}, school year {resub.get('school_year')}: "
            f"`{resub.get('corrected_file')}` ({resub.get('corrected_rows', 1)} row(s) "
            f"corrected) replaces `{resub.get('original_file')}`. "
            f"Published after **{_fmt(resub.get('seconds'), 's')}** "
            f"({_fmt(resub.get('share_of_full_rebuild'))} of the full rebuild); new manifest "
            f"ids {resub.get('new_manifest_ids')}, replaced {resub.get('replaced_manifest_ids')}.",
            "",
            "| seconds after the file landed | event |",
            "|---|---|",
        ]
        for e in resub.get("timeline", []):
            lines.append(f"| {e['seconds_after_drop']} | {e['event']} |")
    v = result.get("validation")
    if v:
        lines += [
            "",
            "## Validation (Great Expectations) cost",
            "",
            f"{_fmt(v['validate_seconds'], 's')} of {_fmt(v['load_seconds'], 's')} load time "
            f"(**{v['share_of_load']:.1%}**); {v['rows_validated']:,} rows validated, "
            f"{_fmt(v['rows_per_second'])} rows/s.",
        ]
    a = result.get("analyst")
    if a:
        lines += [
            "",
            "## Analyst queries (published snapshot, read-only)",
            "",
            "| condition | samples | p50 ms | p95 ms | max ms |",
            "|---|---|---|---|---|",
        ]
        for key in ("idle", "under_load"):
            s = a.get(key, {})
            if s.get("samples"):
                lines.append(
                    f"| {key.replace('_', ' ')} | {s['samples']} | {s['p50_ms']} | "
                    f"{s['p95_ms']} | {s['max_ms']} |"
                )
    answers = result.get("analyst_answers")
    if answers:
        lines += [
            "",
            "## Analyst guide questions (benchmarks/analyst_answers.py)",
            "",
            "| question | rows | figures shown | all null |",
            "|---|---|---|---|",
        ]
        for q in answers:
            figures = f"{q['shown']:,} of {q['figures']:,}" if q["figures"] else "(runs)"
            flag = "**yes**" if q["all_null"] else ""
            title = f"{q['question']}. {q['title'][:60]}"
            lines.append(f"| {title} | {q['rows']:,} | {figures} | {flag} |")
    g = result.get("growth", {}).get("points")
    if g:
        lines += [
            "",
            "## Growth",
            "",
            "| size | rows | full rebuild s | floor s | ratio | CPU ratio | peak GiB | dbt s "
            "| ok |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for p in g:
            lines.append(
                f"| {_size(p['scale'], p['years'])} | {p['rows']:,} | "
                f"{_fmt(p['full_rebuild_seconds'])} | {_fmt(p['floor_seconds'])} | "
                f"{_fmt(p['ratio_to_floor'], 'x')} | {_fmt(p.get('cpu_ratio_to_floor'), 'x')} | "
                f"{_fmt(p['peak_rss_gib'])} | "
                f"{_fmt(p.get('dbt_build_seconds'))} | {'yes' if p['ok'] else 'no'} |"
            )
    notes = result.get("notes")
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    errors = result.get("errors")
    if errors:
        lines += ["", "## Errors", "", *[f"- {k}: {v}" for k, v in errors.items()]]
    return "\n".join(lines) + "\n"
