"""The scheduler loop, driven in-process: claims, policies, faults, housekeeping."""

import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import models
from django.test import override_settings
from django.utils import timezone

from tablecron.claiming import Claimer
from tablecron.db import db_now
from tablecron.executors.immediate import ImmediateExecutor
from tablecron.models import Job, JobRun, SchedulerInstance
from tablecron.scheduler import Scheduler
from tablecron.signals import run_finished, run_started
from tests.support.factories import T
from tests.support.scheduling import due, make_job, runs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scheduler() -> Scheduler:
    instance = Scheduler(ImmediateExecutor())
    instance.start()
    return instance


def test_a_due_job_fires_once_and_advances(scheduler: Scheduler) -> None:
    job = due(make_job())
    fire = job.next_run_at
    scheduler.run_once()
    scheduler.run_once()
    (run,) = runs(job)
    assert (run.status, run.result, run.scheduled_for, run.trigger) == (
        "succeeded",
        3,
        fire,
        "schedule",
    )
    assert run.worker == scheduler.id
    assert run.started_at is not None
    assert run.finished_at is not None
    job.refresh_from_db()
    assert job.next_run_at == fire + timedelta(hours=1)
    assert (job.last_status, job.last_run_at) == ("succeeded", run.scheduled_for)
    assert job.version == 1


def test_nothing_due_nothing_fires(scheduler: Scheduler) -> None:
    job = make_job()
    scheduler.run_once()
    assert runs(job) == []


def test_manual_run_is_claimed_without_moving_the_schedule(scheduler: Scheduler) -> None:
    job = make_job(task=T + "noop", args=[])
    before = job.next_run_at
    job.run_now()
    scheduler.run_once()
    (run,) = runs(job)
    assert (run.trigger, run.status) == ("manual", "succeeded")
    job.refresh_from_db()
    assert job.next_run_at == before
    assert (job.last_run_at, job.last_status) == (run.scheduled_for, "succeeded")


@override_settings(TABLECRON={"POLL_INTERVAL": 0.01})
def test_manual_runs_wait_for_max_instances_unless_asked_not_to() -> None:
    """Issue 20, item 7: manual runs of a max_instances=1 job all ran at once. Now each
    waits while the job's max_instances runs are claimed or running; one asked for with
    ignore_max_instances starts beside them."""
    claimer = Claimer("host:1:me", ImmediateExecutor())
    job = make_job(task=T + "noop", args=[], max_instances=1)
    first, second = job.run_now(), job.run_now()
    assert [claim.run_id for claim in claimer.claim(10)] == [first.pk]
    waiting = JobRun.objects.get(pk=second.pk)
    assert (waiting.status, waiting.worker) == ("scheduled", "")
    assert waiting.not_before > second.not_before  # looked at again later, not in a spin
    assert claimer.claim(10) == []
    beside = job.run_now(ignore_max_instances=True)
    assert wait_for_claims(claimer) == [beside.pk]
    JobRun.objects.filter(pk__in=[first.pk, beside.pk]).update(status="succeeded")
    assert wait_for_claims(claimer) == [second.pk]  # a slot is free: it starts


def wait_for_claims(claimer: Claimer, seconds: float = 5.0) -> list[int]:
    """The runs claimed by the first claim that takes any, within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        claims = claimer.claim(10)
        if claims:
            return [claim.run_id for claim in claims]
    return []


def test_max_instances_counts_every_run_claimed_or_running() -> None:
    """A scheduled fire running fills the job's one slot: a manual run waits for it;
    a job of two takes one manual run beside it; retries are not held."""
    claimer = Claimer("host:1:me", ImmediateExecutor())
    one, two = (make_job(f"j{n}", task=T + "noop", args=[], max_instances=n) for n in (1, 2))
    for job in (one, two):
        JobRun.objects.create(job=job, scheduled_for=db_now(), status="running", worker="x")
    manual_one, manual_two = one.run_now(), two.run_now()
    retry = JobRun.objects.create(
        job=one, scheduled_for=db_now(), attempt=2, trigger="retry", not_before=db_now()
    )
    claimed = {claim.run_id for claim in claimer.claim(10)}
    assert claimed == {manual_two.pk, retry.pk}
    assert JobRun.objects.get(pk=manual_one.pk).worker == ""


def test_one_off_job_ends_with_no_next_run_and_keeps_its_result(scheduler: Scheduler) -> None:
    job = make_job(interval=None, run_at=timezone.now() - timedelta(seconds=1))
    scheduler.run_once()
    job.refresh_from_db()
    assert job.next_run_at is None
    assert [r.result for r in runs(job)] == [3]
    scheduler.run_once()
    assert len(runs(job)) == 1


def test_misfire_grace_records_missed(scheduler: Scheduler) -> None:
    job = due(make_job(misfire_grace=timedelta(seconds=30)), ago=timedelta(minutes=5))
    scheduler.run_once()
    (run,) = runs(job)
    assert run.status == "missed"
    assert "misfire grace" in run.error
    job.refresh_from_db()
    assert job.next_run_at is not None
    assert job.next_run_at > timezone.now()


@pytest.mark.parametrize(("coalesce", "executed"), [(True, 1), (False, 6)])
def test_coalesce_after_downtime(scheduler: Scheduler, coalesce: bool, executed: int) -> None:
    job = make_job(interval=timedelta(minutes=1), coalesce=coalesce, max_instances=6)
    due(job, ago=timedelta(minutes=5, seconds=30))  # 6 fires passed
    scheduler.run_once()
    statuses = [r.status for r in runs(job)]
    assert len(statuses) == 6
    assert statuses.count("succeeded") == executed
    assert statuses.count("missed") == 6 - executed
    if coalesce:
        assert statuses[-1] == "succeeded"  # the latest fire is the one that runs


def test_max_instances_skips_a_fire_while_one_runs(scheduler: Scheduler) -> None:
    job = due(make_job())
    now = db_now()
    SchedulerInstance.objects.create(pk="busy", host="h", pid=1, started_at=now, heartbeat_at=now)
    JobRun.objects.create(
        job=job, scheduled_for=now - timedelta(seconds=5), status="running", worker="busy"
    )
    scheduler.run_once()
    latest = runs(job)[-1]
    assert latest.status == "missed"
    assert "already active" in latest.error


def test_a_task_that_raises_fails_and_retries(scheduler: Scheduler) -> None:
    job = due(
        make_job(
            task=T + "fail", kwargs={"message": "no disk"}, max_retries=2, retry_delay=timedelta(0)
        )
    )
    for _ in range(4):
        scheduler.run_once()
    attempts = runs(job)
    assert [(r.attempt, r.trigger, r.status) for r in attempts] == [
        (1, "schedule", "failed"),
        (2, "retry", "failed"),
        (3, "retry", "failed"),
    ]
    assert "RuntimeError: no disk" in attempts[0].error
    assert len({r.scheduled_for for r in attempts}) == 1
    job.refresh_from_db()
    assert job.last_status == "failed"


def test_retry_waits_for_its_delay(scheduler: Scheduler) -> None:
    job = due(make_job(task=T + "fail", max_retries=1, retry_delay=timedelta(hours=1)))
    scheduler.run_once()
    scheduler.run_once()
    first, retry = runs(job)
    assert (first.status, retry.status, retry.worker) == ("failed", "scheduled", "")
    assert retry.not_before is not None
    assert retry.not_before > timezone.now()


def test_unserialisable_and_oversize_results(scheduler: Scheduler) -> None:
    bad = due(make_job("bad", task=T + "unserialisable"))
    with override_settings(TABLECRON={"RESULT_MAX_BYTES": 100}):
        huge = due(make_job("huge", task=T + "big", args=[1000]))
        scheduler.run_once()
    (bad_run,) = runs(bad)
    assert bad_run.status == "failed"
    assert "not JSON" in bad_run.error
    (huge_run,) = runs(huge)
    assert huge_run.status == "succeeded"
    assert huge_run.result["truncated"] is True
    assert len(huge_run.result["start"]) == 50


def test_async_task(scheduler: Scheduler) -> None:
    job = due(make_job(task=T + "async_sleep", args=[0.01]))
    scheduler.run_once()
    assert [r.result for r in runs(job)] == [0.01]


def test_async_task_timeout_is_cancelled(scheduler: Scheduler) -> None:
    job = due(make_job(task=T + "async_sleep", args=[5], timeout=timedelta(milliseconds=100)))
    scheduler.run_once()
    assert [r.status for r in runs(job)] == ["timed_out"]


def test_rows_naming_unknown_tasks_are_left_untouched(scheduler: Scheduler) -> None:
    ghost = due(make_job("ghost", task="removed.module.task"))
    good = due(make_job("good"))
    scheduler.run_once()
    assert runs(ghost) == []
    assert Job.objects.get(pk=ghost.pk).next_run_at == ghost.next_run_at
    assert [r.status for r in runs(good)] == ["succeeded"]


def test_a_row_with_an_invalid_schedule_is_recorded_and_stopped(scheduler: Scheduler) -> None:
    job = due(make_job())
    models.QuerySet(Job).filter(pk=job.pk).update(interval=None, cron="not a cron")
    good = due(make_job("good"))
    scheduler.run_once()
    (run,) = runs(job)
    assert run.status == "failed"
    assert "schedule is invalid" in run.error
    assert Job.objects.get(pk=job.pk).next_run_at is None
    assert [r.status for r in runs(good)] == ["succeeded"]


def test_jitter_delays_the_start(scheduler: Scheduler) -> None:
    job = due(make_job(jitter=timedelta(minutes=10)))
    scheduler.run_once()
    (run,) = runs(job)
    assert (run.status, run.worker) == ("scheduled", "")
    assert run.scheduled_for < run.not_before <= run.scheduled_for + timedelta(minutes=10)


def test_window_end_stops_the_job(scheduler: Scheduler) -> None:
    job = make_job(interval=timedelta(minutes=1), end_at=timezone.now() + timedelta(seconds=30))
    due(job)
    scheduler.run_once()
    job.refresh_from_db()
    assert job.next_run_at is None
    assert len(runs(job)) == 1


def test_runs_of_a_scheduler_that_stopped_beating_are_lost_and_retried(
    scheduler: Scheduler,
) -> None:
    job = make_job(max_retries=1, retry_delay=timedelta(0))
    old = db_now() - timedelta(minutes=5)
    SchedulerInstance.objects.create(
        pk="gone:1:x", host="elsewhere", pid=1, started_at=old, heartbeat_at=old
    )
    stuck = JobRun.objects.create(
        job=job, scheduled_for=old, status="running", started_at=old, worker="gone:1:x"
    )
    waiting = JobRun.objects.create(
        job=job, scheduled_for=old + timedelta(seconds=1), status="scheduled", worker="gone:1:x"
    )
    assert scheduler.housekeeping.reap_lost(db_now()) == 1
    stuck.refresh_from_db()
    waiting.refresh_from_db()
    assert stuck.status == "lost"
    assert "gone:1:x" in stuck.error
    assert (waiting.status, waiting.worker) == ("scheduled", "")  # handed back, never started
    assert JobRun.objects.filter(job=job, attempt=2, trigger="retry").exists()
    assert not SchedulerInstance.objects.filter(pk="gone:1:x").exists()


def test_own_runs_that_no_worker_holds_are_reaped(scheduler: Scheduler) -> None:
    """A database error cut their start or finish: hand back or mark lost at once."""
    job = make_job()
    now = db_now()
    unstarted = JobRun.objects.create(
        job=job, scheduled_for=now, status="scheduled", worker=scheduler.id
    )
    cut = JobRun.objects.create(
        job=job, scheduled_for=now + timedelta(seconds=1), status="running", worker=scheduler.id
    )
    scheduler.housekeeping.reap_lost(db_now())
    unstarted.refresh_from_db()
    cut.refresh_from_db()
    assert (unstarted.status, unstarted.worker) == ("scheduled", "")
    assert cut.status == "lost"


def test_dead_process_on_this_host_is_reaped_at_once(scheduler: Scheduler) -> None:
    job = make_job()
    now = db_now()
    SchedulerInstance.objects.create(
        pk="me-before", host=scheduler.host, pid=2**22 + 7, started_at=now, heartbeat_at=now
    )
    run = JobRun.objects.create(job=job, scheduled_for=now, status="running", worker="me-before")
    scheduler.housekeeping.reap_lost(db_now())
    run.refresh_from_db()
    assert run.status == "lost"


def test_signals_around_each_run(scheduler: Scheduler) -> None:
    seen: list[tuple[str, str]] = []

    def started(run: JobRun, **_: Any) -> None:
        seen.append(("started", run.status))

    def finished(run: JobRun, **_: Any) -> None:
        seen.append(("finished", run.status))

    run_started.connect(started)
    run_finished.connect(finished)
    try:
        due(make_job())
        scheduler.run_once()
    finally:
        run_started.disconnect(started)
        run_finished.disconnect(finished)
    assert seen == [("started", "running"), ("finished", "succeeded")]


def test_shutdown_hands_back_unstarted_runs_and_deregisters(scheduler: Scheduler) -> None:
    job = make_job()
    run = JobRun.objects.create(
        job=job, scheduled_for=timezone.now(), status="scheduled", worker=scheduler.id
    )
    scheduler.shutdown()
    run.refresh_from_db()
    assert run.worker == ""
    assert not SchedulerInstance.objects.filter(pk=scheduler.id).exists()


def test_heartbeat_comes_back_after_being_reaped(scheduler: Scheduler) -> None:
    SchedulerInstance.objects.all().delete()
    scheduler.housekeeping.presence.heartbeat()
    assert SchedulerInstance.objects.filter(pk=scheduler.id).exists()


def test_db_clock_is_aware_and_close() -> None:
    now = db_now()
    assert now.tzinfo is not None
    assert abs(now - timezone.now()) < timedelta(seconds=5)


def test_claim_queries_do_not_grow_with_due_rows(
    scheduler: Scheduler, django_assert_max_num_queries: Any
) -> None:
    def count_queries(n: int) -> int:
        Job.objects.all().delete()
        for i in range(n):
            due(make_job(f"job-{i}"))
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            claims = scheduler.claimer.claim(500)
        assert len(claims) == n
        return len(captured)

    assert count_queries(3) == count_queries(30)


@pytest.mark.parametrize(
    ("zone", "day", "wall", "fires_at"),
    [
        ("Europe/Berlin", "2026-03-29", "30 2 * * *", (3, 0)),  # skipped: first instant after
        ("Europe/Berlin", "2026-10-25", "30 2 * * *", (2, 30)),  # repeated: once
        ("America/New_York", "2026-03-08", "30 2 * * *", (3, 0)),
        ("America/New_York", "2026-11-01", "30 1 * * *", (1, 30)),
    ],
)
def test_dst_days_through_the_scheduler(
    scheduler: Scheduler, zone: str, day: str, wall: str, fires_at: tuple[int, int]
) -> None:
    """A daily wall-clock job caught up across a DST change fires once that day."""
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    dst_day = date.fromisoformat(day)
    before = datetime.combine(dst_day - timedelta(days=2), datetime.min.time(), tz)
    job = make_job(
        interval=None,
        cron=wall,
        timezone=zone,
        coalesce=False,
        max_instances=10,
        end_at=before + timedelta(days=4),
    )
    schedule = job.get_schedule()
    assert schedule is not None
    models.QuerySet(Job).filter(pk=job.pk).update(next_run_at=schedule.next_after(before))
    scheduler.run_once()
    fires = [r.scheduled_for.astimezone(tz) for r in runs(job)]
    assert [f.date() for f in fires] == [dst_day + timedelta(days=n) for n in (-2, -1, 0, 1)]
    (on_the_day,) = [f for f in fires if f.date() == dst_day]
    assert (on_the_day.hour, on_the_day.minute) == fires_at
    assert all(run.status == "succeeded" for run in runs(job))


@override_settings(TABLECRON={"HEARTBEAT_INTERVAL": 0.3})
def test_an_idle_scheduler_wakes_for_its_next_heartbeat(scheduler: Scheduler) -> None:
    """Even where notifications let it sleep 10 s (PostgreSQL), it never sleeps through a
    heartbeat: the others would take it, and its running work, for dead."""
    try:
        scheduler._waiter.wait(0.01)  # on PostgreSQL: LISTEN, so that it polls rarely
        scheduler.run_once()  # the heartbeat, then nothing due
        delay = scheduler.run_once()
    finally:
        scheduler._waiter.close()
    assert 0 < delay <= 0.3


def test_runs_record_where_they_execute(scheduler: Scheduler) -> None:
    job = due(make_job(queue="reports"))
    scheduler.run_once()
    manual = job.run_now()
    scheduler.run_once()
    for run in (runs(job)[0], JobRun.objects.get(pk=manual.pk)):
        assert (run.status, run.executor, run.queue) == ("succeeded", "immediate", "reports")
        assert run.queued_at is not None
        assert run.started_at is not None
        assert run.queued_at <= run.started_at
        assert run.time_queued is not None
        assert run.time_queued >= timedelta(0)
