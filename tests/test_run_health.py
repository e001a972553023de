"""A run whose process died is marked failed, so the one-at-a-time queue moves on."""

from __future__ import annotations

import os
import socket
import subprocess

import dagster as dg
from dagster._core.events import DagsterEvent, DagsterEventType

from dagster_project.run_health import HOST_TAG, fail_dead_runs
from dagster_project.sensors import fail_dead_runs_sensor


@dg.op
def _noop() -> None:
    pass


@dg.job
def _job() -> None:
    _noop()


def _started_run(instance: dg.DagsterInstance, pid: int, host: str | None = None) -> str:
    tags = {HOST_TAG: host} if host else {}
    run = instance.create_run_for_job(_job, tags=tags)
    start = DagsterEvent(
        event_type_value=DagsterEventType.RUN_START.value, job_name=_job.name, pid=pid
    )
    instance.report_dagster_event(start, run.run_id)
    assert instance.get_run_by_id(run.run_id).status is dg.DagsterRunStatus.STARTED
    return run.run_id


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_run_whose_process_is_gone_is_marked_failed_and_a_live_one_is_not():
    with dg.instance_for_test() as instance:
        dead = _started_run(instance, _dead_pid(), socket.gethostname())
        alive = _started_run(instance, os.getpid())
        elsewhere = _started_run(instance, _dead_pid(), "another-host")
        assert fail_dead_runs(instance) == [dead]
        status = {r: instance.get_run_by_id(r).status for r in (dead, alive, elsewhere)}
        assert status == {
            dead: dg.DagsterRunStatus.FAILURE,
            alive: dg.DagsterRunStatus.STARTED,
            elsewhere: dg.DagsterRunStatus.STARTED,  # its pid means nothing here
        }
        assert fail_dead_runs(instance) == []  # idempotent


def test_the_sensor_heals_under_the_daemon():
    with dg.instance_for_test() as instance:
        dead = _started_run(instance, _dead_pid())
        result = fail_dead_runs_sensor(dg.build_sensor_context(instance=instance))
        assert "1 dead run" in result.skip_message
        assert instance.get_run_by_id(dead).status is dg.DagsterRunStatus.FAILURE
