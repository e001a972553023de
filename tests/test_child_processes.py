"""Children die with their parent: a killed run leaves no dbt holding the warehouse lock."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from dagster_project.resources import LocalDbtCliResource

CHILD = (
    "import os, time; from dagster_project.child_processes import die_with; "
    "die_with(os.getppid()); print(os.getpid(), flush=True); time.sleep(120)"
)
PARENT = (
    "import subprocess, sys, time; "
    f"child = subprocess.Popen([sys.executable, '-c', {CHILD!r}], stdout=sys.stdout); "
    "time.sleep(120)"
)


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1]
        except FileNotFoundError:
            return True
        if state.startswith("Z"):  # exited, not yet reaped: it holds no lock, runs nothing
            return True
        time.sleep(0.1)
    return False


def test_a_child_dies_with_its_parent_killed_at_once():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert not _gone(child, within=0.5)  # alive while its parent is
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert _gone(child, within=5)


def test_dbt_runs_as_cte_dbt_which_execs_the_environments_dbt():
    executable = Path(LocalDbtCliResource(project_dir="dbt").dbt_executable)
    assert executable.name == "cte-dbt" and executable.parent == Path(sys.executable).parent
    result = subprocess.run([executable, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "Usage: dbt" in result.stdout
