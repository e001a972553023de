"""`cte load` fails a scheduler's test when nothing it was asked for took effect (issue 24):
every file it read rejected, or no landed file for the district and year it names."""

from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import duckdb
import pytest
from test_broken_files import _binary, _headerless

from dagster_project.cli import main
from dagster_project.contracts import get_extract
from dagster_project.ingest.audit import os_user
from dagster_project.ingest.landing import landing_path
from dagster_project.settings import Settings

ENROLLMENT = get_extract("student_enrollment")


@pytest.fixture
def landed(cte_home: Settings, monkeypatch: pytest.MonkeyPatch, dbt_manifest: Path) -> Path:
    """District 001's 2025 enrollment as a district's system sends it when it goes wrong: a
    first export without its header row, then a transfer that arrived as binary noise."""
    monkeypatch.setenv("DAGSTER_HOME", str(cte_home.dagster_home))  # restored afterwards
    monkeypatch.chdir(cte_home.home)  # main() moves to the repository; undone afterwards
    folder = landing_path(cte_home.landing_dir, ENROLLMENT)
    folder.mkdir(parents=True)
    (folder / "student_enrollment__001__2025__20250615T103000.csv").write_bytes(_headerless("001"))
    (folder / "student_enrollment__001__2025__20250616T090000.csv").write_bytes(_binary("001"))
    return folder


def test_a_load_whose_every_file_is_rejected_exits_non_zero(landed: Path, cte_home: Settings):
    with pytest.raises(SystemExit) as exited:
        main(["load", "student_enrollment", "2025", "--district", "001"])
    message = str(exited.value.code)
    assert message.startswith("cte load: 2 file(s) read: 2 rejected; not current:"), message
    assert "student_enrollment__001__2025__20250615T103000.csv (REJECTED" in message
    # The report it points to already shows the files, with their problem lists.
    page = cte_home.reports_dir / "dq" / "001" / "2025.html"
    assert "student_enrollment__001__2025__20250616T090000.csv" in page.read_text("utf-8")
    assert list((page.parent / "2025-errors").glob("student_enrollment-*.csv"))

    # Who reloaded (the latest file, read again): in the audit trail and the run's tags
    # (decision 0023). A plain load is in the run's tags only.
    with pytest.raises(SystemExit, match="1 file\\(s\\) read: 1 rejected"):
        main(
            [
                "load",
                "student_enrollment",
                "2025",
                "--district",
                "001",
                "--reload",
                "--by",
                "D. Ruiz",
            ]
        )
    with duckdb.connect(str(cte_home.warehouse_path), read_only=True) as con:
        [(action, actor, district, year, extract, run_id, detail)] = con.execute(
            "select action, actor, district_code, school_year, extract, run_id, detail "
            "from audit.actions"
        ).fetchall()
    assert (action, actor, district, year, extract, detail) == (
        "RELOAD",
        "D. Ruiz",
        "001",
        2025,
        "student_enrollment",
        "the run succeeded",
    )
    assert "D. Ruiz" in page.read_text("utf-8")  # the reload, in the page's history
    instance = dg.DagsterInstance.get()
    tags = instance.get_run_by_id(run_id).tags
    assert tags["cte/actor"] == "D. Ruiz" and tags["cte/action"] == "reload"
    [first] = [r for r in instance.get_runs() if r.run_id != run_id]
    assert first.tags["cte/action"] == "load" and first.tags["cte/actor"] == os_user()


def test_a_district_with_no_landed_file_is_an_error_naming_the_districts_that_have_one(
    landed: Path,
):
    with pytest.raises(SystemExit) as exited:
        main(["load", "student_enrollment", "2025", "--district", "012", "--reload"])
    message = str(exited.value.code)
    assert "no landed file for student_enrollment 2025 district 012" in message, message
    assert message.endswith("Districts with a 2025 file: 001.")
    with pytest.raises(SystemExit, match="no landed file for student_enrollment 2024 under"):
        main(["load", "student_enrollment", "2024"])


def test_cte_run_writes_no_sample_into_a_configured_landing_zone(
    cte_home: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """An empty landing zone moved with CTE_LANDING_DIR is where real files go: `cte run`
    refuses to fill it with generated data (issue 21); the development one it fills."""
    from dagster_project.cli import _ensure_sample_data

    monkeypatch.setenv("DAGSTER_HOME", str(cte_home.dagster_home))  # restored afterwards
    monkeypatch.chdir(cte_home.home)  # main() moves to the repository; undone afterwards
    configured = tmp_path / "districts"
    configured.mkdir()
    monkeypatch.setenv("CTE_LANDING_DIR", str(configured))
    with pytest.raises(SystemExit, match="sample data is generated only into the development"):
        main(["run", "--scale", "tiny", "--years", "1"])
    assert not any(configured.iterdir())

    generated: list[Path] = []
    monkeypatch.setattr(
        "dagster_project.sample_data.generate",
        lambda *a, landing_dir, **k: generated.append(landing_dir),
    )
    args = SimpleNamespace(scale="tiny", years=1, seed=7)
    _ensure_sample_data(cte_home, args)  # the development default, under CTE_HOME
    assert generated == [cte_home.landing_dir]
