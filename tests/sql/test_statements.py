"""``tablecron.sql``: one statements object per database, and what each statement
promises, on the real database of this test run."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.test import override_settings
from django.utils import timezone

from tablecron.models import Job, JobRun, RunStatus
from tablecron.sql import statements
from tablecron.sql.mysql import MySQLStatements
from tablecron.sql.postgresql import PostgreSQLStatements
from tablecron.sql.rows import Advance, Finished, Holder, JSONText, NewRun, columns
from tablecron.sql.sqlite import SQLiteStatements
from tests.support.factories import ADD
from tests.support.processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def job() -> Job:
    return Job.objects.create(name="j", task=ADD, args=[1, 2], interval=timedelta(hours=1))


def new_run(job: Job, **fields: Any) -> NewRun:
    at = fields.pop("scheduled_for", timezone.now().replace(microsecond=0))
    values: dict[str, Any] = {
        "job_id": job.pk,
        "scheduled_for": at,
        "started_at": None,
        "finished_at": None,
        "status": RunStatus.SCHEDULED,
        "error": "",
        "worker": "w",
        "not_before": at,
        "held": True,
    }
    return NewRun(**{**values, **fields})


def holder(queued_at: datetime | None = None) -> Holder:
    return Holder("schedule", "w", "thread", queued_at)


def test_each_vendor_has_its_statements_chosen_once() -> None:
    expected = {
        "postgresql": PostgreSQLStatements,
        "mysql": MySQLStatements,
        "sqlite": SQLiteStatements,
    }[connection.vendor]
    assert type(statements()) is expected
    assert statements() is statements("default")
    assert statements().skip_locked == connection.features.has_select_for_update_skip_locked
    assert statements().notifies == (connection.vendor == "postgresql")


def test_row_columns_are_their_fields() -> None:
    assert [name for name, _ in columns(Finished)] == list(Finished._fields)
    assert dict(columns(Finished)) == {
        "id": "int",
        "status": "text",
        "started_at": "time",
        "finished_at": "time",
        "result": "json",
        "error": "text",
        "was": "text",
        "held_by": "text",
        "succeeded_at": "time",
    }


def test_now_is_the_database_clock_and_aware() -> None:
    now = statements().now()
    assert now.tzinfo is not None
    assert abs(now - timezone.now()) < timedelta(seconds=5)


def test_soonest_is_the_earliest_due_job_or_waiting_run(job: Job) -> None:
    assert statements().soonest([ADD])[1] == job.next_run_at
    assert statements().soonest(["no.such.task"])[1] is None
    early = timezone.now() - timedelta(minutes=5)
    JobRun.objects.create(job=job, scheduled_for=early, not_before=early, status="scheduled")
    assert statements().soonest(["no.such.task"])[1] == early


def test_insert_runs_skips_what_is_already_recorded(job: Job) -> None:
    first = new_run(job)
    with transaction.atomic():
        inserted = statements().insert_runs([first], holder())
    assert [(row.job_id, row.scheduled_for) for row in inserted] == [(job.pk, first.scheduled_for)]
    later = new_run(job, scheduled_for=first.scheduled_for + timedelta(seconds=1))
    with transaction.atomic():
        again = statements().insert_runs([first, later], holder())
    assert [row.scheduled_for for row in again] == [later.scheduled_for]
    assert JobRun.objects.filter(job=job).count() == 2


def test_inserted_runs_take_what_they_share_from_the_holder_and_their_job(job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(queue="q", kwargs={"k": 1})
    at = timezone.now().replace(microsecond=0)
    held = new_run(job, scheduled_for=at, status=RunStatus.RUNNING, started_at=at)
    waits = new_run(job, scheduled_for=at + timedelta(seconds=1), worker="", held=False)
    missed = new_run(
        job, scheduled_for=at - timedelta(seconds=1), status=RunStatus.MISSED, finished_at=at,
        error="late", held=False,
    )  # fmt: skip
    with transaction.atomic():
        statements().insert_runs([held, waits, missed], holder(queued_at=at))
    fields = [
        "status",
        "trigger",
        "worker",
        "claimed_by",
        "executor",
        "queue",
        "queued_at",
        "job_name",
        "args",
        "kwargs",
        "attempt",
        "error",
        "started_at",
        "finished_at",
    ]
    runs = {
        run.pop("scheduled_for"): run
        for run in JobRun.objects.filter(job=job).values("scheduled_for", *fields)
    }
    shared = {"trigger": "schedule", "job_name": "j", "args": [1, 2], "kwargs": {"k": 1},
              "attempt": 1}  # fmt: skip
    assert runs[at] == {**shared, "status": "running", "worker": "w", "claimed_by": "w",
                        "executor": "thread", "queue": "q", "queued_at": at, "error": "",
                        "started_at": at, "finished_at": None}  # fmt: skip
    assert runs[waits.scheduled_for] == {**shared, "status": "scheduled", "worker": "",
                                         "claimed_by": "", "executor": "", "queue": "",
                                         "queued_at": None, "error": "", "started_at": None,
                                         "finished_at": None}  # fmt: skip
    assert runs[missed.scheduled_for] == {**shared, "status": "missed", "worker": "w",
                                          "claimed_by": "", "executor": "", "queue": "",
                                          "queued_at": None, "error": "late",
                                          "started_at": None, "finished_at": at}  # fmt: skip


def test_a_claims_writes_count_the_jobs_moved_on_and_return_the_runs_inserted(job: Job) -> None:
    at = timezone.now().replace(microsecond=0)
    run = new_run(job, scheduled_for=at)
    move = Advance(job.pk, job.version, at + timedelta(hours=1), at, "scheduled")
    with transaction.atomic():
        advanced, inserted = statements().write_claim([move], [run], holder())
    assert advanced == 1
    assert [(row.job_id, row.scheduled_for) for row in inserted] == [(job.pk, at)]
    with transaction.atomic():  # the version moved on; the run is recorded already
        assert statements().write_claim([move], [run], holder()) == (0, [])
    assert Job.objects.get(pk=job.pk).next_run_at == at + timedelta(hours=1)


def test_advance_writes_only_jobs_whose_version_matches(job: Job) -> None:
    when = timezone.now().replace(microsecond=0) + timedelta(hours=2)
    stale = Advance(job.pk, job.version + 1, when, None, None)
    assert statements().advance_jobs([stale]) == 0
    fresh = Advance(job.pk, job.version, when, when - timedelta(hours=1), "running")
    assert statements().advance_jobs([fresh]) == 1
    job.refresh_from_db()
    assert (job.next_run_at, job.version, job.last_status) == (when, 1, "running")


def test_finish_ends_only_running_runs_and_the_newest_speaks_for_its_job(job: Job) -> None:
    at = timezone.now().replace(microsecond=0)
    running = JobRun.objects.create(job=job, scheduled_for=at, status="running", started_at=at)
    lost = JobRun.objects.create(
        job=job, scheduled_for=at - timedelta(hours=1), status="lost", finished_at=at
    )
    Job.objects.filter(pk=job.pk).update(last_run_at=at, last_status="running")
    rows = [
        Finished(running.pk, "succeeded", None, at, JSONText('{"n": 3}'), "", "running", "", at),
        Finished(lost.pk, "succeeded", None, at, None, "", "running", "", at),  # decided without us
    ]
    with transaction.atomic():
        assert statements().finish_runs(rows) == {running.pk}
    running.refresh_from_db()
    lost.refresh_from_db()
    assert (running.status, running.result, running.started_at) == ("succeeded", {"n": 3}, at)
    assert lost.status == "lost"
    assert Job.objects.get(pk=job.pk).last_status == "succeeded"


def test_a_success_sets_the_jobs_last_success_never_backwards(job: Job) -> None:
    at = timezone.now().replace(microsecond=0)
    older, newer, failed = (
        JobRun.objects.create(job=job, scheduled_for=at - timedelta(minutes=n), status="running")
        for n in (2, 1, 0)
    )
    Job.objects.filter(pk=job.pk).update(last_run_at=at, last_status="running")

    def finish(run: JobRun, status: str, finished_at: Any) -> None:
        with transaction.atomic():
            succeeded_at = finished_at if status == "succeeded" else None
            row = Finished(run.pk, status, at, finished_at, None, "", "running", "", succeeded_at)
            statements().finish_runs([row])

    finish(newer, "succeeded", at + timedelta(seconds=20))
    finish(older, "succeeded", at + timedelta(seconds=10))  # ended later, but finished earlier
    finish(failed, "failed", at + timedelta(seconds=30))
    job.refresh_from_db()
    assert (job.last_success_at, job.last_status) == (at + timedelta(seconds=20), "failed")


def test_start_is_a_conditional_transition(job: Job) -> None:
    at = timezone.now()
    run = JobRun.objects.create(job=job, scheduled_for=at, status="scheduled", worker="w")
    assert not statements().start_run(run.pk, "someone-else", at)
    assert statements().start_run(run.pk, "w", at)
    assert not statements().start_run(run.pk, "w", at)  # a second delivery starts nothing
    assert JobRun.objects.get(pk=run.pk).status == "running"


def test_the_runs_of_a_message_start_in_one_conditional_transition(job: Job) -> None:
    """CELERY_RUNS_PER_MESSAGE: the waiting runs start, those cancelled or held by another
    do not, and a second delivery (even at the same instant) starts none."""
    at = timezone.now()
    runs = [
        JobRun.objects.create(job=job, scheduled_for=at - timedelta(seconds=n),
                              status="scheduled", worker="w")
        for n in range(3)
    ]  # fmt: skip
    ids = [run.pk for run in runs]
    runs[1].cancel(by="ann")
    assert statements().start_runs(ids, "someone-else", at) == set()
    assert statements().start_runs(ids, "w", at, worker="celery@h:1", engine_id="m") == {
        ids[0], ids[2]
    }  # fmt: skip
    assert statements().start_runs(ids, "w", at, worker="celery@h:1", engine_id="m") == set()
    started = JobRun.objects.filter(pk__in=ids, status="running")
    assert set(started.values_list("pk", "worker", "engine_id")) == {
        (ids[0], "celery@h:1", "m"), (ids[2], "celery@h:1", "m")
    }  # fmt: skip


@contextmanager
def held(job: Job) -> Iterator[None]:
    """The job's row locked by another connection while the block runs."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                list(Job.objects.select_for_update().filter(pk=job.pk))
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert locked.wait(10)
        yield
    finally:
        release.set()
        thread.join()


@pytest.mark.skipif("not connection.features.has_select_for_update_skip_locked")
def test_lock_free_skips_rows_that_others_hold(job: Job) -> None:
    other = Job.objects.create(name="other", task=ADD, args=[1, 2], interval=timedelta(hours=1))
    at = timezone.now()
    mine, others = (JobRun.objects.create(job=j, scheduled_for=at) for j in (other, job))
    sql = statements()
    with held(job):
        with transaction.atomic():
            assert sql.lock_free(sql.job, [job.pk, other.pk, None]) == {other.pk, None}
        with transaction.atomic():  # PostgreSQL: all, waiting 50 ms at most for a row
            expected = {mine.pk, others.pk} if connection.vendor == "postgresql" else {mine.pk}
            assert sql.writable([(mine.pk, other.pk), (others.pk, job.pk)]) == expected


def test_without_row_locks_everything_is_free(job: Job) -> None:
    if statements().skip_locked:
        pytest.skip("this database has row locks")
    sql = statements()
    assert sql.lock_free(sql.job, [job.pk, None]) == {job.pk, None}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's session timeout")
@override_settings(TABLECRON={"LOST_AFTER": 1})
def test_the_server_ends_a_claim_whose_scheduler_fell_silent(job: Job) -> None:
    """Cut off in the middle of a claim, a scheduler holds its jobs' rows no longer than
    half of LOST_AFTER: the server ends its session, and others may claim them."""
    sql = statements()

    def free_elsewhere() -> set[int | None]:
        found: set[int | None] = set()

        def look() -> None:
            try:
                with transaction.atomic():
                    found.update(sql.lock_free(sql.job, [job.pk]))
            finally:
                connections.close_all()

        thread = threading.Thread(target=look)
        thread.start()
        thread.join()
        return found

    with transaction.atomic():  # a batch of outcomes is bounded alike
        sql.writable([])
        assert sql.execute("SHOW idle_in_transaction_session_timeout")[1] == [("500ms",)]

    def claim_then_fall_silent() -> None:
        with transaction.atomic():
            sql.begin_claim()
            list(Job.objects.select_for_update().filter(pk=job.pk))
            assert free_elsewhere() == {None}
            # Nothing sent on this session: the server gives up on it after 0.5 s.
            wait_for(lambda: free_elsewhere() == {job.pk, None}, 10, "the server to end it")
            sql.now()

    with pytest.raises(DatabaseError):
        claim_then_fall_silent()
    connection.close()
