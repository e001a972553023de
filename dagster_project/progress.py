"""What `cte run` and `cte load` print while a job runs: a line per step, each warning once.

Everything else a run writes (Dagster's event log down to DEBUG, dbt's output, Python
warnings, the solver's banner in the publish workers) goes to a log file under
``warehouse/logs/`` whose path is printed; the same events are in the UI's run view. Before
issue 24 `make run` printed about 1,700 lines: a user could not find the summary or the warnings.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from dagster_project.privacy import scrub

KEEP_LOGS = 20  # the newest run logs kept in warehouse/logs
_SHOWN_CHARS = 300  # a warning on the terminal; the log file has it whole
_QUOTED = re.compile(r"`[^`]*`")
_EXCEPTION_PREFIX = re.compile(r"^[\w.]+: ")


def new_log_path(logs_dir: Path, command: str) -> Path:
    """A fresh log file for one command, the oldest beyond KEEP_LOGS removed."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    by_time = sorted(logs_dir.glob("cte-*.log"), key=lambda p: p.stem.rsplit("-", 1)[-1])
    for old in by_time[: -(KEEP_LOGS - 1)]:
        old.unlink(missing_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return logs_dir / f"cte-{command}-{stamp}.log"


@contextmanager
def output_to_file(path: Path) -> Iterator[TextIO]:
    """Send file descriptors 1 and 2 to ``path`` and yield a stream on the terminal.

    Descriptors, not ``sys.stdout``: dbt runs as a child process and the publish workers'
    solver prints from C, and both inherit them."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    console = open(os.dup(saved[0]), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    try:
        with path.open("ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield console
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)
        console.close()


def _label(step_key: str) -> str:
    if step_key.startswith("raw__"):
        return f"load {step_key.removeprefix('raw__')}"
    return {
        "dq_report": "quality report",
        "nm_cte_dbt_assets": "dbt build",
        "published_snapshot": "publish",
    }.get(step_key, step_key)


def _failure(data) -> str:
    """A failed step's reason in one line: a Failure's description, else the innermost error
    (Dagster wraps it in "Error occurred while executing op") as `Type: first line`. The
    traceback is in the log."""
    text = getattr(data.user_failure_data, "description", None)
    error = data.error
    while not text and error is not None and error.cause is not None:
        if error.cls_name != "DagsterExecutionStepExecutionError":
            break
        error = error.cause
    if not text and error is not None:
        text = f"{error.cls_name}: {_EXCEPTION_PREFIX.sub('', error.message or '')}"
    lines = (text or "").strip().splitlines()
    return scrub(lines[0] if lines else "see the log", _SHOWN_CHARS)


def _warning_kind(message: str) -> str:
    """Warnings that differ only in a quoted name (dbt's test names) count as one."""
    return _QUOTED.sub("`...`", message)


@dataclass
class _Step:
    started: float = field(default_factory=time.monotonic)
    metadata: dict[str, object] = field(default_factory=dict)
    materialized: int = 0
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)  # check names, once each


@dataclass
class RunProgress:
    """A Dagster event listener (``instance.add_event_listener``) that prints to ``console``."""

    console: TextIO
    steps: dict[str, _Step] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)  # kind -> times seen

    def say(self, text: str) -> None:
        print(text, file=self.console)

    def __call__(self, entry) -> None:
        try:
            self._handle(entry)
        except Exception:
            # The terminal's lines must never fail a run; the event itself is in the log.
            logging.getLogger(__name__).exception("progress line for an event failed")

    def _handle(self, entry) -> None:
        event = entry.dagster_event
        if event is None:
            if entry.level >= logging.WARNING and entry.user_message:
                self._warn(entry.step_key, entry.level, entry.user_message)
            return
        step = self.steps.setdefault(entry.step_key or "", _Step())
        kind = event.event_type_value
        data = event.event_specific_data
        if kind == "STEP_START":
            step.started = time.monotonic()
        elif kind == "ASSET_MATERIALIZATION":
            step.materialized += 1
            step.metadata |= {k: v.value for k, v in data.materialization.metadata.items()}
        elif kind == "ASSET_CHECK_EVALUATION":
            if data.passed:
                step.checks_passed += 1
            elif data.check_name not in step.checks_failed:
                step.checks_failed.append(data.check_name)
        elif kind == "STEP_SUCCESS":
            self._line(entry.step_key, self._detail(step), time.monotonic() - step.started)
        elif kind == "STEP_FAILURE":
            self._line(entry.step_key, f"FAILED: {_failure(data)}", time.monotonic() - step.started)

    def _detail(self, step: _Step) -> str:
        md = step.metadata
        parts = []
        if "files" in md:
            parts.append(f"{md['files']} file(s), {md.get('rows_loaded', 0):,} rows loaded")
            # Files that did not become current: "1 held", "2 rejected", "1 duplicate".
            parts += [
                f"{n} {status.lower()}"
                for status, n in (md.get("files_by_status") or {}).items()
                if status != "LOADED"
            ]
        elif "tables" in md:
            parts.append(f"{len(md['tables'])} tables published")
        elif "cross_file_checks" in md:
            parts.append(f"{md['cross_file_checks']} cross-file checks")
        elif step.materialized > 1:
            parts.append(f"{step.materialized} assets")
        if step.checks_passed:
            parts.append(f"{step.checks_passed} checks passed")
        if step.checks_failed:
            parts.append(f"failed: {', '.join(step.checks_failed)}")
        return "; ".join(parts) or "done"

    def _line(self, step_key: str | None, detail: str, seconds: float) -> None:
        self.say(f"  {_label(step_key or ''):<32}{detail:<56}{seconds:>6.1f} s")

    def _warn(self, step_key: str | None, level: int, message: str) -> None:
        kind = _warning_kind(message)
        self.warnings[kind] = self.warnings.get(kind, 0) + 1
        if self.warnings[kind] == 1:
            word = "error" if level >= logging.ERROR else "warning"
            where = f"{_label(step_key)}: " if step_key else ""
            text = scrub(" ".join(message.split()), _SHOWN_CHARS)
            self.say(f"  {word}: {where}{text}")

    def repeats(self) -> int:
        """Warnings not printed because one like them was."""
        return sum(n - 1 for n in self.warnings.values())


def execute_job(job, instance, progress: RunProgress | None, **kwargs):
    """``job.execute_in_process`` with ``progress`` listening to the run's events.

    The job's resources are those of the definitions it came from: the `cte` commands build
    them from the settings their main read (code_location.build_definitions), so a
    long-lived process (a test worker) never runs with another CTE_HOME's."""
    run_id = str(uuid.uuid4())
    if progress is not None and instance is not None:
        instance.add_event_listener(run_id, progress)
    return job.execute_in_process(instance=instance, run_id=run_id, **kwargs)
