"""The short summary `cte run` and `cte status` print: what was loaded, built and published."""

from __future__ import annotations

from dagster_project.settings import Settings
from dagster_project.warehouse import connect


def print_summary(settings: Settings, elapsed_seconds: float | None) -> None:
    if not settings.warehouse_path.exists():
        print(f"No warehouse yet at {settings.warehouse_path}; run `make run`.")
        return
    with connect(settings.warehouse_path, read_only=True) as con:
        loads = con.execute("""
            select extract,
                   count(*) filter (where status = 'LOADED') as files,
                   coalesce(sum(rows_read) filter (where status = 'LOADED'), 0),
                   coalesce(sum(rows_loaded) filter (where status = 'LOADED'), 0),
                   coalesce(sum(rows_quarantined) filter (where status = 'LOADED'), 0),
                   count(*) filter (where status <> 'LOADED') as other_files
            from raw.load_manifest group by extract order by extract nulls last
        """).fetchall()
        marts = con.execute("""
            select table_name, estimated_size from duckdb_tables()
            where schema_name = 'marts' order by table_name
        """).fetchall()
    print("\nLoaded (current submissions)")
    print(
        f"  {'extract':<28}{'files':>7}{'rows read':>12}{'loaded':>12}{'quarantined':>13}"
        f"{'other files':>13}"
    )
    for extract, files, read, loaded, held, other in loads:
        print(
            f"  {extract or '(unnamed)':<28}{files:>7}{read:>12,}{loaded:>12,}{held:>13,}"
            f"{other:>13}"
        )
    print(f"\nMarts built: {len(marts)}")
    for name, rows in marts:
        print(f"  marts.{name:<34}{rows:>10,} rows")
    print("\nWhere things are")
    print(f"  working warehouse   {settings.warehouse_path}")
    published = settings.published_path
    print(f"  published snapshot  {published}{'' if published.exists() else '  (not yet)'}")
    print(f"  Parquet exports     {settings.published_dir / 'parquet'}")
    print(f"  PED quality report  {settings.reports_dir / 'dq' / 'index.html'}")
    print(f"  Data Docs           {settings.reports_dir / 'data_docs' / 'index.html'}")
    if elapsed_seconds is not None:
        print(f"\nDone in {elapsed_seconds:,.0f} s.")


def load_outcome(settings: Settings, run_id: str) -> tuple[str, bool]:
    """One line on what became of the files a run read, and whether all became current.

    A run fails a scheduler's test (non-zero exit) when a file was rejected, held, or not
    loaded as older than the slice's current one: only then did a delivery not take effect.
    """
    with connect(settings.warehouse_path, read_only=True) as con:
        files = con.execute(
            "select file_name, status, reason_code from raw.load_manifest where run_id = ? "
            "order by manifest_id",
            [run_id],
        ).fetchall()
    counts: dict[str, int] = {}
    not_current = []
    for name, status, reason in files:
        word = {"LOADED": "current", "DUPLICATE": "already received"}.get(status, status.lower())
        if status == "SUPERSEDED" and reason != "STALE_SUBMISSION":
            word = "current, then replaced"  # an earlier file of the same slice and run
        counts[word] = counts.get(word, 0) + 1
        if status in ("HELD", "REJECTED") or reason == "STALE_SUBMISSION":
            not_current.append(f"{name} ({status} {reason})")
    parts = ", ".join(f"{n} {w}" for w, n in counts.items()) or "nothing new"
    line = f"{len(files)} file(s) read: {parts}"
    if not_current:
        line += f"; not current: {', '.join(not_current)}"
    return line, not not_current
