"""Runs whose process died: marked failed, so the one-at-a-time queue moves on (issue 23).

A `cte run` killed with kill -9, or a run worker killed under `cte ui`, stays STARTED in
Dagster forever: nothing else is dequeued ("1 runs are currently in progress. Maximum is 1").
Dagster's run monitoring cannot tell, because the default run launcher does not report the
health of its workers. Everything runs on one machine, so the project checks the processes
itself: a STARTED run none of whose event-writing processes is alive is dead.
"""

from __future__ import annotations

import logging
import os
import socket

import dagster as dg
from dagster._core.events import JobFailureData, RunFailureReason

log = logging.getLogger(__name__)
HOST_TAG = "cte/host"  # set by `cte run` / `cte load`: pids are only meaningful on their host


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _run_pids(instance: dg.DagsterInstance, run_id: str) -> set[int]:
    """The processes that wrote the run's first and latest events (start and worker)."""
    pids = set()
    for ascending in (True, False):
        records = instance.get_records_for_run(run_id, limit=5, ascending=ascending).records
        for record in records:
            event = record.event_log_entry.dagster_event
            if event is not None and event.pid:
                pids.add(event.pid)
    return pids


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark STARTED runs whose processes are all gone as failed; their ids."""
    healed = []
    started = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    for run in started:
        host = run.tags.get(HOST_TAG)
        if host and host != socket.gethostname():
            continue
        pids = _run_pids(instance, run.run_id)
        if not pids or any(_alive(pid) for pid in pids):
            continue
        message = (
            f"the run's process (pid {', '.join(map(str, sorted(pids)))}) is gone: it was "
            "killed or crashed; marked failed so that queued runs can start"
        )
        # Not a step failure: a sensor's load is retried (instance run_retries).
        reason = JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION)
        instance.report_run_failed(run, message=message, job_failure_data=reason)
        log.warning("run %s (%s): %s", run.run_id, run.job_name, message)
        healed.append(run.run_id)
    return healed
