"""``EXECUTOR: "celery"`` with real ``celery -A … worker`` processes on a real broker."""

import contextlib
import dataclasses
import json
import os
import signal
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection, connections, router, transaction
from django.test import override_settings
from django.utils import timezone

from tablecron.db import db_now
from tablecron.models import Job, JobRun, SchedulerInstance
from tests.support.processes import (
    T,
    calls,
    celery_env,
    celery_workers,
    check_accounted_for,
    check_exactly_once,
    every_second_jobs,
    expected_fires,
    kill_session,
    parent_of,
    redis_server,
    report,
    schedulers,
    session_id,
    soak,
    wait_for,
    wait_for_fires,
)

pytest.importorskip("celery")
import redis
from celery import Celery
from celery import _state as celery_state

from tablecron.claiming import Claimer
from tablecron.db import close_old_connections
from tablecron.execution import Claim
from tablecron.executors.celery import CeleryExecutor
from tests.support.scheduling import due, make_job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("per_message", [1, 10])
def test_every_fire_runs_exactly_once_on_celery_workers(tmp_path: Path, per_message: int) -> None:
    jobs, seconds, path = 50, 20, tmp_path / "calls.log"
    env = celery_env(CELERY_RUNS_PER_MESSAGE=per_message)
    with celery_workers(2, tmp_path, env), schedulers(2, tmp_path, env):
        wait_for(lambda: SchedulerInstance.objects.count() >= 2, 60, "schedulers")
        # Workers on a busy machine may fall seconds behind: fires then wait their turn
        # (max_instances 30) instead of being recorded missed; this is about exactly once.
        first, paused = soak(jobs, path, seconds, max_instances=30)
    recorded = calls(path)
    report("celery, exactly once", recorded)
    expected = expected_fires(jobs, first, paused - timedelta(seconds=1))
    check_exactly_once(recorded, expected)
    ran = JobRun.objects.filter(status="succeeded")
    assert ran.count() == len(recorded)
    assert set(ran.values_list("executor", flat=True)) == {"celery"}
    assert all(run.worker.startswith("celery@") and run.engine_id for run in ran)
    assert len({call.pid for call in recorded}) > 1, "one process did all the work"
    most = max(Counter(ran.values_list("engine_id", flat=True)).values())  # runs a message
    assert most == 1 if per_message == 1 else 1 < most <= per_message


def test_a_worker_killed_mid_run_loses_it_and_a_redelivery_runs_nothing(tmp_path: Path) -> None:
    """kill -9 of the worker that runs a job: the run is lost within LOST_AFTER and its
    retry runs on the other worker; the broker hands the unacknowledged message to the
    other worker too (acks_late), and that second delivery runs nothing."""
    path, lost_after = tmp_path / "calls.log", 3.0
    env = celery_env(LOST_AFTER=lost_after, HEARTBEAT_INTERVAL=0.5)
    env["TABLECRON_TEST_VISIBILITY"] = "4"
    with celery_workers(2, tmp_path, env, concurrency=1), schedulers(1, tmp_path, env):
        wait_for(SchedulerInstance.objects.filter(role="scheduler").exists, 60, "the scheduler")
        job = Job.objects.create(
            name="slow",
            task=T + "record_and_sleep_once",
            kwargs={"path": str(path), "label": "slow", "seconds": 60},
            run_at=timezone.now(),
            max_retries=1,
            retry_delay=timedelta(0),
        )
        wait_for(lambda: calls(path), 30, "the run to start")
        killed = parent_of(calls(path)[0].pid)  # the worker's main process, not its child
        os.killpg(killed, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda: job.runs.filter(attempt=1, status="lost").exists(), 30, "lost")
        lost_in = time.monotonic() - killed_at
        wait_for(lambda: job.runs.filter(attempt=2, status="succeeded").exists(), 30, "retry")
        message = JobRun.objects.get(job=job, attempt=1).engine_id
        wait_for(lambda: deliveries(tmp_path, message) == 2, 30, "the redelivery")
    first, retry = job.runs.order_by("attempt")
    assert (first.status, retry.status, retry.trigger) == ("lost", "succeeded", "retry")
    assert lost_in < lost_after + 5, f"lost after {lost_in:.1f} s"
    assert [call.label for call in calls(path)] == ["slow", "slow"]  # the attempt, the retry
    assert {call.pid for call in calls(path)} != {calls(path)[0].pid}


def test_a_worker_killed_in_a_message_of_several_runs_loses_the_runs_it_started(
    tmp_path: Path,
) -> None:
    """CELERY_RUNS_PER_MESSAGE: three runs due together go in one message and start
    together; kill -9 of the worker while the first executes leaves all three ``lost``
    within LOST_AFTER, and each is retried once, on the other worker. The redelivered
    message runs nothing."""
    path, lost_after = tmp_path / "calls.log", 3.0
    env = celery_env(LOST_AFTER=lost_after, HEARTBEAT_INTERVAL=0.5, CELERY_RUNS_PER_MESSAGE=10)
    env["TABLECRON_TEST_VISIBILITY"] = "4"
    with celery_workers(2, tmp_path, env, concurrency=1), schedulers(1, tmp_path, env):
        wait_for(SchedulerInstance.objects.filter(role="scheduler").exists, 60, "the scheduler")
        at = timezone.now() + timedelta(seconds=2)
        with transaction.atomic():  # claimed together
            for n in range(3):
                Job.objects.create(
                    name=f"slow-{n}",
                    task=T + "record_and_sleep_once",
                    kwargs={"path": str(path), "label": f"slow-{n}", "seconds": 60},
                    run_at=at,
                    max_retries=1,
                    retry_delay=timedelta(0),
                )
        wait_for(lambda: calls(path), 30, "the first run to start")
        killed = parent_of(calls(path)[0].pid)  # the worker's main process, not its child
        os.killpg(killed, signal.SIGKILL)
        killed_at = time.monotonic()
        firsts = JobRun.objects.filter(attempt=1)
        wait_for(lambda: firsts.filter(status="lost").count() == 3, 30, "lost")
        lost_in = time.monotonic() - killed_at
        retries = JobRun.objects.filter(attempt=2, status="succeeded")
        wait_for(lambda: retries.count() == 3, 30, "the retries")
        (message,) = set(firsts.values_list("engine_id", flat=True))  # one message
        wait_for(lambda: deliveries(tmp_path, message) == 2, 30, "the redelivery")
    assert lost_in < lost_after + 5, f"lost after {lost_in:.1f} s"
    labels = Counter(call.label for call in calls(path))
    first = calls(path)[0].label
    assert labels == {f"slow-{n}": 2 if f"slow-{n}" == first else 1 for n in range(3)}


def deliveries(logs: Path, message: str) -> int:
    """How many times the workers logged receiving Celery message ``message``."""
    return sum(log.read_text().count(f"[{message}] received") for log in logs.glob("worker-*.log"))


OUTAGE = 10  # seconds: past the misfire grace (3 s) and Redis' visibility timeout (5 s)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the outage is the broker's: once, on PostgreSQL",
)
def test_a_broker_outage_loses_no_claimed_run(tmp_path: Path) -> None:
    """The broker is stopped for OUTAGE s while every-second jobs fire: runs claimed
    meanwhile wait and are sent when it is back; those too late for their misfire grace
    say so."""
    jobs, path = 20, tmp_path / "calls.log"
    (tmp_path / "broker").mkdir()
    with redis_server(tmp_path / "broker") as broker:
        # Messages a worker had taken but not run when the broker went away come back
        # after Redis' visibility timeout: 5 s here, as with a deployment that sets it low.
        # A worker may also stop consuming after Redis restarts (celery/celery#10205):
        # the runs it never starts end missed after QUEUED_LIMIT, 15 s here.
        env = {
            **celery_env(QUEUED_LIMIT=15, HEARTBEAT_INTERVAL=1),
            "TABLECRON_TEST_BROKER": broker.url,
            "TABLECRON_TEST_VISIBILITY": "5",
        }
        with celery_workers(1, tmp_path, env), schedulers(1, tmp_path, env):
            scheduler = SchedulerInstance.objects.filter(role="scheduler")
            wait_for(scheduler.exists, 60, "scheduler")
            first = every_second_jobs(jobs, path)
            wait_for_fires(path, expected_fires(jobs, first, first), 60)
            # Only now: with a grace of 3 s from the start, a busy machine's first fires
            # could end missed before the worker was ready, and never run.
            Job.objects.update(misfire_grace=timedelta(seconds=3))
            broker.stop()
            stopped = db_now()
            # The scheduler goes on beating through the outage: its heartbeat marks the time.
            ended = stopped + timedelta(seconds=OUTAGE)
            wait_for(scheduler.filter(heartbeat_at__gte=ended).exists, OUTAGE + 30, "the outage")
            assert "celery is away" in (tmp_path / "scheduler-0.log").read_text()
            broker.start()
            back = db_now()
            # It claims again: every job has a run due after the outage (run or missed).
            resumed = JobRun.objects.filter(scheduled_for__gt=back)
            wait_for(lambda: resumed.values("job").distinct().count() == jobs, 60, "claims")
            Job.objects.update(enabled=False)
            paused = db_now()
            wait_for(lambda: not JobRun.objects.active().exists(), 60, "queued runs to end")
    expected = expected_fires(jobs, first, paused - timedelta(seconds=1))
    outcomes = check_accounted_for(calls(path), expected)
    print(f"\nbroker outage on {connection.vendor}: {dict(outcomes)}")
    ran = [call.scheduled_for for call in calls(path)]
    before, after = sum(at < stopped for at in ran), sum(at > back for at in ran)
    print(f"ran before the outage {before}, after {after}")
    assert before >= jobs
    # During it, later than the misfire grace: from the stop to 3 s before the broker
    # was back, less a second at each end.
    assert outcomes["missed"] >= jobs * (OUTAGE - 5)
    errors = set(JobRun.objects.filter(status="missed").values_list("error", flat=True))
    assert any("misfire grace" in error for error in errors), errors


def test_celery_time_limits_end_runs_timed_out(tmp_path: Path) -> None:
    """A task past its timeout is stopped by the soft time limit; one that ignores it is
    killed by the hard one: either way its run ends timed out, not abandoned."""
    env = celery_env()
    with celery_workers(1, tmp_path, env), schedulers(1, tmp_path, env):
        now, timeout = timezone.now(), timedelta(seconds=1)
        soft = Job.objects.create(
            name="soft", task=T + "sleep", args=[60], run_at=now, timeout=timeout
        )
        hard = Job.objects.create(
            name="hard", task=T + "stubborn", args=[60], run_at=now, timeout=timeout
        )
        ended = JobRun.objects.filter(status="timed_out")
        wait_for(lambda: ended.count() == 2, 60, "both runs to time out")
    runs = {run.job_name: run for run in ended}
    assert "SoftTimeLimitExceeded" in runs[soft.name].error
    assert "killed it at its time limit" in runs[hard.name].error
    for run in runs.values():
        assert run.duration is not None
        assert run.duration < timedelta(seconds=5)


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite has no connection to kill")
def test_runs_sent_while_the_database_is_away_are_all_sent_and_then_recorded(
    tmp_path: Path,
) -> None:
    """The database goes away between a claim's commit and the sending of its runs: each
    is still sent (one failed record of being queued stranded the rest of the loop's
    claims, held by a live scheduler and never sent), and recorded once it is back."""
    (tmp_path / "broker").mkdir()
    current = celery_state.get_current_app()  # a new app becomes the current one: put it back
    with redis_server(tmp_path / "broker") as broker, contextlib.ExitStack() as restore:
        restore.callback(current.set_current)
        executor = CeleryExecutor(Celery("tablecron-test", broker=broker.url))
        for n in range(3):
            due(make_job(f"j{n}"))
        claims = Claimer("s1", executor).claim(10)
        kill_session(session_id())
        for claim in claims:
            executor.submit(claim)
        assert redis.Redis.from_url(broker.url).llen("celery") == 3
        close_old_connections()
        executor.wait_for_slot(0)
    assert JobRun.objects.filter(queued_at__isnull=True).count() == 0


def test_runs_are_claimed_ahead_and_their_messages_wait_for_their_time(tmp_path: Path) -> None:
    """A run due in a moment is claimed now, and its message carries its time as its ETA
    (a Celery worker holds it until then, outside its pool); a run already due is sent
    without one. (The claim's run is sent as if due in a minute: on a busy machine the
    moment may be over before it is sent.)"""
    (tmp_path / "broker").mkdir()
    current = celery_state.get_current_app()
    with redis_server(tmp_path / "broker") as broker, contextlib.ExitStack() as restore:
        restore.callback(current.set_current)
        executor = CeleryExecutor(Celery("tablecron-test", broker=broker.url))
        soon = due(make_job("soon"), ago=-timedelta(milliseconds=60))
        due(make_job("late"))
        claims = {c.job_name: c for c in Claimer("s1", executor).claim(10)}
        assert set(claims) == {"soon", "late"}
        assert claims["soon"].not_before == soon.next_run_at
        later = dataclasses.replace(claims["soon"], not_before=db_now() + timedelta(minutes=1))
        executor.submit_many([later, claims["late"]])
        sent = [json.loads(m) for m in redis.Redis.from_url(broker.url).lrange("celery", 0, -1)]
    etas = {m["headers"]["argsrepr"].split("'")[1]: m["headers"]["eta"] for m in sent}
    assert etas == {"soon": later.not_before.isoformat(), "late": None}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="holds a row lock meanwhile")
def test_a_worker_killed_before_its_outcome_is_written_leaves_the_run_lost(
    tmp_path: Path,
) -> None:
    """The crash window of outcomes written aside (docs/executors.md): the task ran to
    its end, but its process was killed -9 before its outcome's commit (held back here
    by a lock on the run's row). The run ends lost, as if the task had died, and its
    retry is scheduled: the one case where a task that ran to its end is run again."""
    path, lost_after = tmp_path / "calls.log", 3.0
    env = celery_env(LOST_AFTER=lost_after, HEARTBEAT_INTERVAL=0.5)
    with celery_workers(1, tmp_path, env, concurrency=1), schedulers(1, tmp_path, env):
        wait_for(SchedulerInstance.objects.filter(role="scheduler").exists, 60, "the scheduler")
        job = Job.objects.create(
            name="short",
            task=T + "record_and_sleep_once",
            kwargs={"path": str(path), "label": "short", "seconds": 1},
            run_at=timezone.now(),
            max_retries=1,
            retry_delay=timedelta(0),
        )
        wait_for(lambda: calls(path), 30, "the run to start")
        pid = calls(path)[0].pid
        runs = router.db_for_write(JobRun)  # tablecron's database, maybe a second one
        with transaction.atomic(using=runs), connections[runs].cursor() as cursor:
            cursor.execute("SELECT id FROM tablecron_jobrun WHERE job_id = %s FOR UPDATE", [job.pk])
            wait_for(sessions_waiting_to_write_a_run, 30, "the outcome's write to wait")
            os.killpg(parent_of(pid), signal.SIGKILL)
            wait_for(lambda: not Path(f"/proc/{pid}").exists(), 30, "the worker to die")
            # The server ends a dead client's session once it sees it gone
            # (client_connection_check_interval); here at once: its write never commits.
            for session in sessions_waiting_to_write_a_run():
                cursor.execute("SELECT pg_terminate_backend(%s)", [session])
        wait_for(lambda: job.runs.filter(attempt=1, status="lost").exists(), 30, "lost")
    first, retry = job.runs.order_by("attempt")
    assert (first.status, retry.trigger) == ("lost", "retry")  # no worker is left to run it
    assert [call.label for call in calls(path)] == ["short"]


def sessions_waiting_to_write_a_run() -> list[int]:
    """The sessions on the test database that wait for a lock to write a run."""
    with connections[router.db_for_write(JobRun)].cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else read once a transaction
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE %s",
            ["%tablecron_jobrun%"],
        )
        return [pid for (pid,) in cursor.fetchall()]


def test_runs_due_together_in_one_queue_share_a_message_up_to_the_setting() -> None:
    """CELERY_RUNS_PER_MESSAGE: consecutive claims go in one message while they share the
    first's queue and time (its ETA; all those already due share "now"), up to the
    setting; a run with a timeout goes alone, with its time limits."""
    now = timezone.now()
    soon, later, past = now + timedelta(seconds=5), now + timedelta(seconds=6), now - timedelta(1)

    def claim(queue: str = "", at: datetime = soon, timeout: timedelta | None = None) -> Claim:
        job = Job(name="j", task=T + "noop", queue=queue, timeout=timeout)
        return Claim.of(job, 1, at, "sched", not_before=at)

    executor = CeleryExecutor()  # (a Celery app made here would be the default one)
    unsent = [claim(), claim(), claim("reports"), claim(at=later), claim(timeout=timedelta(1))]
    with override_settings(TABLECRON={"CELERY_RUNS_PER_MESSAGE": 10}):
        assert executor.next_message(unsent) == 2  # then another queue
        assert executor.next_message(unsent[3:]) == 1  # then one with a timeout
        assert executor.next_message(unsent[4:]) == 1
        assert executor.next_message([claim(at=past), claim(at=now - timedelta(2))]) == 2
        assert executor.next_message([claim()] * 25) == 10
    assert executor.next_message([claim()] * 25) == 1  # the default
