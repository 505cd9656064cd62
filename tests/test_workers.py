"""A live worker ends as lost the runs whose outcome it could not write (no one else
reaps the runs of a worker that beats), and only those."""

import dataclasses
import signal
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tablecron import workers
from tablecron.db import db_now
from tablecron.execution import Claim
from tablecron.models import Job, JobRun
from tablecron.workers import Worker, reap_unrecorded, run_message
from tests.support.factories import ADD

pytestmark = pytest.mark.django_db(transaction=True)
WORKER = "celery@host1:123:abc"


def test_a_run_left_running_by_its_live_worker_is_lost_and_retried() -> None:
    job = Job.objects.create(
        name="j", task=ADD, args=[1], interval=timedelta(hours=1), max_retries=1
    )
    now = db_now()

    def run(seconds: int, worker: str = WORKER, status: str = "running") -> JobRun:
        at = now - timedelta(seconds=seconds)
        return JobRun.objects.create(
            job=job, scheduled_for=at, status=status, worker=worker, started_at=at
        )

    # The outcome write of the first failed for good; the second is still executing.
    unrecorded, executing = run(3), run(2)
    elsewhere, ended = run(1, worker="celery@host2:9:def"), run(4, status="succeeded")
    assert reap_unrecorded(WORKER, lambda: {executing.pk}, now) == 1
    statuses = {r.pk: r.status for r in JobRun.objects.all()}
    assert statuses[unrecorded.pk] == "lost"
    assert [statuses[r.pk] for r in (executing, elsewhere, ended)] == [
        "running", "running", "succeeded"
    ]  # fmt: skip
    assert "could not record" in JobRun.objects.get(pk=unrecorded.pk).error
    retry = JobRun.objects.get(attempt=2)
    assert (retry.scheduled_for, retry.status) == (unrecorded.scheduled_for, "scheduled")
    assert reap_unrecorded(WORKER, set, now) == 1  # the other, once it too is over


def test_a_message_costs_the_task_one_statement_and_its_outcome_is_written_aside(
    request: pytest.FixtureRequest,
) -> None:
    """The hot path of every queue executor's worker: the conditional start in the task,
    one statement; the outcome is handed to the process's writer thread, which writes
    what ended meanwhile in one commit, and the run counts as executing here until then
    (its heartbeat would end it lost otherwise)."""
    job = Job.objects.create(name="j", task=ADD, args=[1, 2], interval=timedelta(hours=1))
    now = db_now()
    held = {"status": "scheduled", "worker": "sched", "queued_at": now}
    runs = [JobRun(job=job, scheduled_for=now - timedelta(seconds=s), **held) for s in (1, 2)]
    claims = [
        Claim.of(job, run.pk, run.scheduled_for, "sched")
        for run in JobRun.objects.bulk_create(runs)
    ]
    assert run_message(claims[0].to_message(), engine="test") == "succeeded"  # registers
    request.addfinalizer(Worker.stop_current)  # its threads' connections go with it
    worker = Worker.current("test")
    with CaptureQueriesContext(connection) as captured:
        assert run_message(claims[1].to_message(), engine="test", aside=True) == "succeeded"
    assert [q["sql"].split()[0].upper() for q in captured.captured_queries] == ["UPDATE"]
    assert worker.writer.flush()
    assert worker.executing() == set()
    run = JobRun.objects.get(pk=claims[1].run_id)
    assert (run.status, run.result, run.worker.startswith("test@")) == ("succeeded", 3, True)
    assert Job.objects.get(pk=job.pk).last_success_at == run.finished_at  # the job follows
    assert run_message(claims[1].to_message(), engine="test") is None  # delivered twice


def test_without_a_writer_thread_the_task_writes_its_outcome_in_one_statement(
    request: pytest.FixtureRequest,
) -> None:
    """Where a process may end right after its task (RQ's work horses: os._exit()), the
    task writes its outcome itself: on PostgreSQL one statement, committed alone."""
    job = Job.objects.create(name="j", task=ADD, args=[1, 2], interval=timedelta(hours=1))
    now = db_now()
    run = JobRun.objects.create(
        job=job, scheduled_for=now, status="scheduled", worker="sched", queued_at=now
    )
    message = Claim.of(job, run.pk, run.scheduled_for, "sched").to_message()
    request.addfinalizer(Worker.stop_current)
    Worker.current("test")  # registered before
    with CaptureQueriesContext(connection) as captured:
        assert run_message(message, engine="test") == "succeeded"
    statements = [q["sql"].split()[0].upper() for q in captured.captured_queries]
    if connection.vendor == "postgresql":  # the start, then the end (run and job) alone
        assert statements == ["UPDATE", "WITH"]
    else:  # the start, then the end of the run and its job's follow-up together
        assert statements == ["UPDATE", "BEGIN", "UPDATE", "UPDATE", "COMMIT"]
    assert Worker.current("test")._writer is None  # no thread started for it


def test_a_cancel_signal_that_comes_after_its_run_ended_ends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The watcher asks a pool process's main thread to stop a run it found cancelled;
    if the run ended in between, the SIGTERM finds no run and must not end the process
    (as a SIGTERM from elsewhere still does): here, the test's own process."""
    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(workers, "_sigterm_installed", False)
    try:
        assert workers.stop_on_sigterm()
        workers.interrupt_main_thread()  # no run executes in this thread
        assert not workers._interrupts  # heard, at the call's return, and ignored
    finally:
        signal.signal(signal.SIGTERM, before)


def held_claims(count: int, **job: object) -> list[Claim]:
    """``count`` runs of one job, claimed by scheduler "sched" and sent to a queue."""
    job_row = Job.objects.create(name="j", task=ADD, args=[1, 2], interval=timedelta(hours=1),
                                 **job)  # fmt: skip
    now = db_now()
    held = {"status": "scheduled", "worker": "sched", "queued_at": now}
    runs = [JobRun(job=job_row, scheduled_for=now - timedelta(seconds=s), **held)
            for s in range(count)]  # fmt: skip
    return [Claim.of(job_row, run.pk, run.scheduled_for, "sched")
            for run in JobRun.objects.bulk_create(runs)]  # fmt: skip


def test_a_message_of_several_runs_starts_them_in_one_statement_and_runs_each_once(
    request: pytest.FixtureRequest,
) -> None:
    """CELERY_RUNS_PER_MESSAGE's worker side: the runs of a message start together, in
    one statement, each only if it still waits for its holder (not one someone cancelled
    meanwhile); each runs here and its outcome goes to the writer thread. A second
    delivery starts none."""
    claims = held_claims(4)
    JobRun.objects.get(pk=claims[2].run_id).cancel(by="ann")  # never starts
    request.addfinalizer(Worker.stop_current)
    worker = Worker.current("test")
    messages = [claim.to_message() for claim in claims]
    with CaptureQueriesContext(connection) as captured:
        statuses = workers.run_messages(messages, engine="test", engine_id="m-1")
    assert statuses == ["succeeded", "succeeded", None, "succeeded"]
    # MariaDB has no UPDATE … RETURNING: it reads and locks the waiting runs first.
    started = (
        ["BEGIN", "SELECT", "UPDATE", "COMMIT"] if connection.vendor == "mysql" else ["UPDATE"]
    )
    assert [q["sql"].split()[0].upper() for q in captured.captured_queries] == started
    assert worker.writer.flush()
    assert worker.executing() == set()
    runs = JobRun.objects.in_bulk([claim.run_id for claim in claims])
    assert [runs[c.run_id].status for c in claims] == [
        "succeeded", "succeeded", "cancelled", "succeeded"
    ]  # fmt: skip
    ran = [runs[claims[n].run_id] for n in (0, 1, 3)]
    assert all(r.result == 3 and r.engine_id == "m-1" and r.worker == worker.id for r in ran)
    assert workers.run_messages(messages, engine="test") == [None] * 4  # delivered twice


def test_a_run_of_a_message_cancelled_before_its_turn_never_begins(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runs of a message start together; one that someone asks to cancel while the
    runs before it execute ends ``cancelled``, and its task is never called."""
    claims = held_claims(3)
    request.addfinalizer(Worker.stop_current)
    worker = Worker.current("test")
    execute = workers.execute

    def execute_then_cancel(claim: Claim, *args: Any, **kwargs: Any) -> str | None:
        status = execute(claim, *args, **kwargs)
        if claim == claims[0]:  # while the first runs, someone cancels the third
            JobRun.objects.get(pk=claims[2].run_id).cancel(by="ann")
        return status

    monkeypatch.setattr(workers, "execute", execute_then_cancel)
    monkeypatch.setattr(workers, "ASK_EVERY", 0.0)  # not once a second: before each run
    messages = [claim.to_message() for claim in claims]
    assert workers.run_messages(messages, engine="test") == ["succeeded", "succeeded", "cancelled"]
    assert worker.writer.flush()
    run = JobRun.objects.get(pk=claims[2].run_id)
    assert (run.status, run.result, run.started_at is not None) == ("cancelled", None, True)
    assert "ann" in run.error


def test_a_message_of_several_runs_records_missed_those_past_their_misfire_grace(
    request: pytest.FixtureRequest,
) -> None:
    """A message that reaches its worker late: its runs past their job's misfire grace end
    ``missed``, saying so, and the others run."""
    claims = held_claims(2, misfire_grace=timedelta(seconds=30))
    late = dataclasses.replace(claims[0], not_before=db_now() - timedelta(minutes=1))
    request.addfinalizer(Worker.stop_current)
    worker = Worker.current("test")
    messages = [late.to_message(), claims[1].to_message()]
    assert workers.run_messages(messages, engine="test") == ["missed", "succeeded"]
    assert worker.writer.flush()
    missed = JobRun.objects.get(pk=late.run_id)
    assert (missed.status, missed.started_at) == ("missed", None)
    assert "misfire grace" in missed.error
    assert JobRun.objects.get(pk=claims[1].run_id).status == "succeeded"
