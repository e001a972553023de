"""A run whose process died is marked failed, so the one-at-a-time queue moves on."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.events import DagsterEvent, DagsterEventType, JobFailureData, RunFailureReason
from dagster._daemon.auto_run_reexecution.auto_run_reexecution import should_retry

from dagster_project.run_health import HOST_TAG, fail_dead_runs
from dagster_project.sensors import fail_dead_runs_sensor


@dg.op
def _noop() -> None:
    pass


@dg.job
def _job() -> None:
    _noop()


INSTANCE_YAML = Path(__file__).parent.parent / "dagster_project" / "instance" / "dagster.yaml"


def _started_run(
    instance: dg.DagsterInstance, pid: int, host: str | None = None, tags: dict | None = None
) -> str:
    tags = {**(tags or {}), **({HOST_TAG: host} if host else {})}
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


def test_a_sensor_load_whose_process_died_is_retried_and_a_failed_one_is_not():
    """The project's instance settings: a sensor's load (tagged dagster/max_retries) killed
    mid-run is re-executed by the daemon; one that failed on its file, or any other run, not."""
    settings = yaml.safe_load(INSTANCE_YAML.read_text())
    overrides = {"run_retries": settings["run_retries"]}
    sensor_tags = {"dagster/max_retries": "2"}
    with dg.instance_for_test(overrides=overrides) as instance:
        killed = _started_run(instance, _dead_pid(), tags=sensor_tags)
        other = _started_run(instance, _dead_pid())
        assert sorted(fail_dead_runs(instance)) == sorted([killed, other])
        failed = _started_run(instance, os.getpid(), tags=sensor_tags)
        step_failure = JobFailureData(error=None, failure_reason=RunFailureReason.STEP_FAILURE)
        instance.report_run_failed(instance.get_run_by_id(failed), job_failure_data=step_failure)
        # What the retry daemon asks of each failed run (it reads the failure reason tag).
        retried = {r: should_retry(instance.get_run_by_id(r), instance) for r in (killed, other)}
        assert retried == {killed: True, other: False}
        assert not should_retry(instance.get_run_by_id(failed), instance)
