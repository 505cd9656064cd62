"""Concurrency groups at claim time (issue 18, part 3), driven in-process: slots, waiting
runs and their reason, the misfire grace, a lowered limit, and what ungrouped jobs pay."""

import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from tablecron.claiming import Claimer
from tablecron.db import db_now
from tablecron.executors.immediate import ImmediateExecutor
from tablecron.models import ConcurrencyGroup, Job, JobRun
from tests.support.factories import T
from tests.support.factories import job as unsaved_job
from tests.support.scheduling import due, make_job

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_polls"),
]


@pytest.fixture
def fast_polls() -> object:
    with override_settings(TABLECRON={"POLL_INTERVAL": 0.01}):
        yield


@pytest.fixture
def claimer() -> Claimer:
    return Claimer("host:1:me", ImmediateExecutor())


def grouped(name: str, group: str = "warehouse", **fields: object) -> Job:
    return due(make_job(name, task=T + "noop", concurrency_group=group, **fields))


def claimed(claimer: Claimer, seconds: float = 5.0) -> set[int]:
    """The runs taken by the first claim that takes any within ``seconds`` (a waiting
    run is looked at again a poll interval later)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if claims := claimer.claim(10):
            return {claim.run_id for claim in claims}
    return set()


def end_runs(*runs: JobRun) -> None:
    JobRun.objects.filter(pk__in=[run.pk for run in runs]).update(status="succeeded")


def run_of(job: Job) -> JobRun:
    return JobRun.objects.get(job=job)


def test_a_new_group_name_is_a_group_of_one(claimer: Claimer) -> None:
    job = grouped("load")
    assert ConcurrencyGroup.objects.get(name="warehouse").limit == 1  # made by the save
    ConcurrencyGroup.objects.all().delete()  # a row written by another path: the claim makes it
    assert claimed(claimer) == {run_of(job).pk}
    assert run_of(job).concurrency_group == "warehouse"
    assert ConcurrencyGroup.objects.get(name="warehouse").limit == 1


def test_a_full_group_keeps_a_fire_waiting_visibly_until_a_slot_frees(claimer: Claimer) -> None:
    first, second = grouped("load"), grouped("export")
    taken = claimed(claimer)
    assert len(taken) == 1
    running = JobRun.objects.get(pk__in=taken)
    waiting = JobRun.objects.filter(job__in=[first, second]).exclude(pk=running.pk).get()
    assert (waiting.status, waiting.worker) == ("scheduled", "")
    assert waiting.waiting_since is not None
    assert waiting.waiting_reason == "waiting for group warehouse: 1 of 1 running"
    assert running.waiting_reason == ""
    assert claimer.claim(10) == []  # still full
    end_runs(running)
    assert claimed(claimer) == {waiting.pk}
    waiting.refresh_from_db()
    assert (waiting.status, waiting.waiting_reason) == ("running", "")


def test_a_group_of_two_runs_two_and_groups_do_not_share(claimer: Claimer) -> None:
    ConcurrencyGroup.objects.create(name="pair", limit=2)
    jobs = [grouped(f"p{n}", "pair") for n in range(3)] + [grouped("other", "solo")]
    taken = claimed(claimer)
    assert len(taken) == 3  # two of the pair, and solo's
    assert JobRun.objects.filter(pk__in=taken, job=jobs[3]).exists()
    assert JobRun.objects.exclude(pk__in=taken).get().waiting_since is not None


def test_a_run_that_waits_longer_than_its_grace_is_missed(claimer: Claimer) -> None:
    grouped("load")
    late = grouped("export", misfire_grace=timedelta(seconds=30))
    assert len(claimed(claimer)) == 1
    waiting = run_of(late)  # load fell due first: it took the slot
    assert waiting.worker == ""
    JobRun.objects.filter(pk=waiting.pk).update(
        waiting_since=db_now() - timedelta(seconds=31), not_before=db_now()
    )
    assert claimer.claim(10) == []
    waiting.refresh_from_db()
    assert waiting.status == "missed"
    assert waiting.error == (
        "It waited for group warehouse longer than the misfire grace time (0:00:30): "
        "1 of 1 running."
    )


def test_a_group_name_with_braces_is_quoted_as_it_is(claimer: Claimer) -> None:
    grouped("load", "{worker}")
    late = grouped("export", "{worker}", misfire_grace=timedelta(seconds=30))
    assert len(claimed(claimer)) == 1
    JobRun.objects.filter(job=late).update(
        waiting_since=db_now() - timedelta(seconds=31), not_before=db_now()
    )
    assert claimer.claim(10) == []
    assert run_of(late).status == "missed"
    assert run_of(late).error.startswith("It waited for group {worker} longer than")


def test_oldest_waiting_run_goes_first(claimer: Claimer) -> None:
    grouped("load")
    (first,) = (JobRun.objects.get(pk=pk) for pk in claimed(claimer))
    older, newer = grouped("a"), grouped("b")
    assert claimer.claim(10) == []
    JobRun.objects.filter(job=older).update(waiting_since=db_now() - timedelta(seconds=5))
    end_runs(first)
    assert claimed(claimer) == {run_of(older).pk}
    assert run_of(newer).worker == ""


def test_a_lowered_limit_lets_running_runs_finish_and_starts_none_until_under_it(
    claimer: Claimer,
) -> None:
    group = ConcurrencyGroup.objects.create(name="warehouse", limit=2)
    one, two = grouped("one"), grouped("two")
    assert len(claimed(claimer)) == 2
    group.limit = 1
    group.save()
    three = grouped("three")
    assert claimer.claim(10) == []
    assert run_of(three).waiting_reason == "waiting for group warehouse: 2 of 1 running"
    end_runs(run_of(one))
    assert claimer.claim(10) == []
    assert claimer.claim(10) == []  # 1 of 1 running: still none
    end_runs(run_of(two))
    assert claimed(claimer) == {run_of(three).pk}


def test_manual_runs_and_retries_of_a_grouped_job_wait_too(claimer: Claimer) -> None:
    busy = grouped("busy")
    assert claimed(claimer) == {run_of(busy).pk}
    other = make_job("other", task=T + "noop", concurrency_group="warehouse")
    manual = other.run_now(ignore_max_instances=True)
    retry = JobRun.objects.create(
        job=other, scheduled_for=db_now(), attempt=2, trigger="retry", not_before=db_now()
    )
    assert claimer.claim(10) == []
    assert {run.waiting_since is not None for run in JobRun.objects.filter(job=other)} == {True}
    end_runs(run_of(busy))
    taken = claimed(claimer)
    assert len(taken) == 1
    assert taken <= {manual.pk, retry.pk}


def test_jobs_without_a_group_pay_no_statement(claimer: Claimer) -> None:
    for n in range(3):
        due(make_job(f"plain-{n}", task=T + "noop"))
    with CaptureQueriesContext(connection) as captured:
        assert len(claimer.claim(10)) == 3
    table = ConcurrencyGroup._meta.db_table
    assert not [q["sql"] for q in captured if table in q["sql"]]
    assert not [q["sql"] for q in captured if "waiting_since" in q["sql"]]


def test_limit_below_one_and_bad_names_are_field_errors() -> None:
    with pytest.raises(ValidationError) as caught:
        ConcurrencyGroup(name="warehouse", limit=0).full_clean()
    assert list(caught.value.message_dict) == ["limit"]
    with pytest.raises(ValidationError) as caught:
        unsaved_job(concurrency_group="x" * 101).full_clean()
    assert list(caught.value.message_dict) == ["concurrency_group"]
    assert not ConcurrencyGroup.objects.exists()
