"""A run in the operator's hands: its output captured as it goes, stopping it, running it
again, running it once with other arguments. In-process, with the thread executor and
real databases; tests/processes/test_run_control.py does the same across processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from tablecron.executors.thread import ThreadExecutor
from tablecron.models import Job, JobRun, RunOutput
from tablecron.scheduler import Scheduler
from tests.support.audit import trail
from tests.support.processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

TASKS = "tests.testapp.tablecron_jobs."


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    scheduler = Scheduler(ThreadExecutor(max_workers=4))
    yield scheduler
    scheduler.shutdown()


def job(name: str, task: str, **fields: object) -> Job:
    return Job.objects.create(name=name, task=TASKS + task, **fields)


def ended(run: JobRun, timeout: float = 15) -> JobRun:
    wait_for(lambda: JobRun.objects.get(pk=run.pk).finished_at, timeout, f"run {run.pk} to end")
    run.refresh_from_db()
    return run


def run_until_ended(scheduler: Scheduler, run: JobRun, timeout: float = 15) -> JobRun:
    """Drive the scheduler's loop until ``run`` has ended."""

    def ended() -> object:
        scheduler.run_once()
        run.refresh_from_db()
        return run.finished_at

    wait_for(ended, timeout, f"run {run.pk} to end")
    return run


def test_output_keeps_each_line_with_its_time_and_stream_or_level(scheduler: Scheduler) -> None:
    run = run_until_ended(scheduler, job("c", "chatty", args=["hi", 2]).run_now())
    assert run.status == "succeeded"
    lines = run.output.splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "stdout hi out 0",
        "WARNING tests.chatty: hi log 0",
        "stderr hi err 0",
        "stdout hi out 1",
        "WARNING tests.chatty: hi log 1",
        "stderr hi err 1",
    ]
    assert lines[0][:4].isdigit()
    assert lines[0][19] == "."
    # A short run's output was written with its outcome: one chunk, in the same commit.
    assert RunOutput.objects.filter(run=run).count() == 1


def test_two_runs_at_once_each_get_only_their_own_lines(scheduler: Scheduler) -> None:
    runs = [job(label, "chatty", args=[label, 20, 0.01]).run_now() for label in "ab"]
    for run in runs:
        run_until_ended(scheduler, run)
    for run, label, other in zip(runs, "ab", "ba", strict=True):
        output = run.output
        assert output.count(f"{label} out") == output.count(f"{label} err") == 20
        assert f"{other} out" not in output
        assert f"{other} log" not in output
    # Meanwhile the process's own streams and logging work as before.
    print("not a run's")
    assert not RunOutput.objects.filter(text__contains="not a run's").exists()


def test_output_is_readable_while_the_run_runs(scheduler: Scheduler) -> None:
    run = job("w", "until_cancelled", args=[30]).run_now()
    scheduler.run_once()
    wait_for(lambda: "stdout started" in JobRun.objects.get(pk=run.pk).output, 5, "output")
    assert JobRun.objects.get(pk=run.pk).status == "running"
    assert run.cancel(by="ops")
    run = run_until_ended(scheduler, run)
    assert (run.status, run.error, run.result) == ("cancelled", "Cancelled by ops.", "stopped")
    assert run.output.splitlines()[-1].endswith("stdout asked to stop")


@override_settings(TABLECRON={"OUTPUT_LIMIT": 2000})
def test_a_long_output_keeps_its_head_and_tail_and_says_what_was_cut(
    scheduler: Scheduler,
) -> None:
    run = run_until_ended(scheduler, job("long", "chatty", args=["x", 400]).run_now())
    output = run.output
    head, marker, tail = output.partition("characters cut …]\n")
    assert marker
    assert "x out 0" in head
    assert "x err 399" in tail
    assert len(output) < 2000 + 200
    cut = int(head.rpartition("[… ")[2].replace(",", ""))
    assert cut + 2000 >= 400 * 3 * 30  # about what the 1,200 lines held, less what is kept


def test_a_cancelled_async_task_is_cancelled(scheduler: Scheduler) -> None:
    run = job("a", "async_until_cancelled", args=[60]).run_now()
    scheduler.run_once()
    wait_for(lambda: "started" in JobRun.objects.get(pk=run.pk).output, 5, "output")
    asked = time.monotonic()
    run.cancel()
    run = run_until_ended(scheduler, run)
    assert (run.status, run.error) == ("cancelled", "Cancelled.")
    assert time.monotonic() - asked < 3  # the watcher looks once a second


def test_a_run_that_has_not_started_never_starts() -> None:
    run = job("n", "chatty", args=["n"]).run_now()
    assert run.cancel(by="ops")
    assert (run.status, run.error) == ("cancelled", "Cancelled by ops.")
    Scheduler(ThreadExecutor()).run_once()
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert run.started_at is None
    assert run.output == ""
    assert not run.cancel()  # already ended: nothing changes


def test_cancel_is_in_the_audit_trail_and_is_not_retried(scheduler: Scheduler) -> None:
    cancelled = job("r", "until_cancelled", args=[30], max_retries=3).run_now()
    scheduler.run_once()
    wait_for(lambda: JobRun.objects.get(pk=cancelled.pk).status == "running", 5, "start")
    cancelled.cancel(by="ops")
    run_until_ended(scheduler, cancelled)
    assert JobRun.objects.filter(job__name="r").count() == 1
    assert [(e["action"], e["run"]) for e in trail(object_repr="r")][-1] == (
        "cancel",
        cancelled.pk,
    )


def test_a_rerun_repeats_the_run_with_its_arguments_and_links_to_it(
    scheduler: Scheduler,
) -> None:
    failing = job("f", "fail", args=["first"])
    first = run_until_ended(scheduler, failing.run_now())
    Job.objects.filter(pk=failing.pk).update(args=["changed since"])
    again = run_until_ended(scheduler, first.rerun())
    assert again.rerun_of == first
    assert list(first.reruns.all()) == [again]
    assert "RuntimeError: first" in again.error
    assert (again.trigger, again.args) == ("manual", ["first"])
    assert [e["action"] for e in trail(object_repr="f")][-1] == "rerun"


def test_run_now_with_other_arguments_leaves_the_job_as_it_is(scheduler: Scheduler) -> None:
    adder = job("add", "add", args=[1, 2], interval=timedelta(hours=1))
    run = run_until_ended(scheduler, adder.run_now(args=[40], kwargs={"b": 2}))
    assert (run.status, run.result) == ("succeeded", 42)
    adder.refresh_from_db()
    assert (adder.args, adder.kwargs) == ([1, 2], {})
    assert trail(object_repr="add")[-1]["changes"] == {
        "args": [[1, 2], [40]],
        "kwargs": [{}, {"b": 2}],
    }


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [(["a", "b", "c"], None, "args"), (None, {"nope": 1}, "kwargs"), ("text", None, "args")],
)
def test_run_now_refuses_arguments_that_do_not_fit(
    args: object, kwargs: object, field: str
) -> None:
    adder = job("add", "add", args=[1, 2])
    with pytest.raises(ValidationError) as refused:
        adder.run_now(args=args, kwargs=kwargs)  # type: ignore[arg-type]
    assert list(refused.value.message_dict) == [field]
    assert not JobRun.objects.exists()
