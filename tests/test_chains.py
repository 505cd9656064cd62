"""Jobs that follow jobs (``Job.after``, issue 18 part 2): each success of the upstream
job runs each follower once, linked to the upstream run; any other end runs nothing; a
job has a time schedule or an upstream job, and no chain goes round in a circle."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from tablecron import chains
from tablecron.db import db_now
from tablecron.execution import Claim, Outcome
from tablecron.executors.immediate import ImmediateExecutor
from tablecron.models import Job, JobRun, RunStatus, RunTrigger
from tablecron.retention import Pruner
from tablecron.scheduler import Scheduler
from tests.support.factories import ADD
from tests.support.scheduling import due, runs

pytestmark = pytest.mark.django_db(transaction=True)

NOOP = "tests.testapp.tablecron_jobs.noop"
FAIL = "tests.testapp.tablecron_jobs.fail"


def upstream(task: str = NOOP, **fields: object) -> Job:
    return Job.objects.create(name="import", task=task, interval=timedelta(hours=1), **fields)


def follower(after: Job, name: str = "export", **fields: object) -> Job:
    return Job.objects.create(name=name, task=NOOP, after=after, **fields)


def drain(scheduler: Scheduler, rounds: int = 4) -> None:
    """Claim and run whatever is due or waiting, a few loops (each follower one more)."""
    for _ in range(rounds):
        scheduler.run_once()


# -- validation ----------------------------------------------------------------------


def test_a_follower_has_no_time_schedule_and_no_next_run() -> None:
    export = follower(upstream())
    export.full_clean()
    assert (export.next_run_at, export.upcoming()) == (None, [])


@pytest.mark.parametrize(
    "schedule",
    [{"cron": "0 9 * * *"}, {"interval": timedelta(minutes=5)}, {"run_at": "2030-01-01T09:00Z"}],
)
def test_a_time_schedule_and_after_are_refused_on_after(schedule: dict[str, object]) -> None:
    export = Job(name="export", task=NOOP, after=upstream(), **schedule)
    with pytest.raises(ValidationError) as raised:
        export.full_clean()
    assert "Choose one kind of schedule" in raised.value.message_dict["after"][0]
    assert list(raised.value.message_dict) == ["after"]


def test_the_database_refuses_a_time_schedule_beside_after() -> None:
    export = follower(upstream())
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.filter(pk=export.pk).update(cron="0 9 * * *")


def test_a_job_cannot_follow_itself() -> None:
    alone = Job.objects.create(name="alone", task=NOOP)
    alone.after = alone
    with pytest.raises(ValidationError) as raised:
        alone.full_clean()
    assert raised.value.message_dict["after"] == [
        "“alone” cannot run after “alone”: the chain would go round in a circle "
        "(alone → alone). Choose a job that does not follow this one."
    ]


def test_a_cycle_through_other_jobs_is_refused_naming_the_circle() -> None:
    first = upstream()
    second = follower(first, "second")
    third = follower(second, "third")
    first.interval = None
    first.after = third
    with pytest.raises(ValidationError) as raised:
        first.full_clean()
    assert raised.value.message_dict["after"] == [
        "“import” cannot run after “third”: the chain would go round in a circle "
        "(import → third → second → import). Choose a job that does not follow this one."
    ]


def test_an_unknown_upstream_job_is_a_field_error() -> None:
    export = Job(name="export", task=NOOP, after_id=987654)
    with pytest.raises(ValidationError) as raised:
        export.full_clean()
    assert list(raised.value.message_dict) == ["after"]


def test_deleting_the_upstream_leaves_the_follower_manual_only() -> None:
    first = upstream()
    export = follower(first)
    first.delete()
    export.refresh_from_db()
    assert (export.after_id, export.enabled, export.next_run_at) == (None, True, None)


# -- triggering ------------------------------------------------------------------------


def test_each_success_runs_the_follower_once_linked_to_it() -> None:
    first = upstream()
    export = follower(first)
    scheduler = Scheduler(ImmediateExecutor())
    for _ in range(2):
        due(first)
        drain(scheduler)
    ups = runs(first)
    assert [run.status for run in ups] == ["succeeded", "succeeded"]
    followed = runs(export)
    assert [(r.trigger, r.status) for r in followed] == [("after", "succeeded")] * 2
    assert sorted(r.upstream_run_id for r in followed) == sorted(r.pk for r in ups)
    assert all(r.scheduled_for == u.finished_at for r, u in zip(followed, ups, strict=True))


def test_a_chain_runs_down_its_links() -> None:
    first = upstream()
    second = follower(first, "second")
    third = follower(second, "third")
    due(first)
    drain(Scheduler(ImmediateExecutor()))
    (run_2,) = runs(second)
    (run_3,) = runs(third)
    assert (run_3.upstream_run_id, run_2.upstream_run_id) == (run_2.pk, runs(first)[0].pk)
    assert run_3.status == RunStatus.SUCCEEDED


def test_a_failure_runs_nothing_not_even_after_its_retries() -> None:
    first = upstream(FAIL, max_retries=1, retry_delay=timedelta(0))
    export = follower(first)
    due(first)
    drain(Scheduler(ImmediateExecutor()))
    assert [run.status for run in runs(first)] == ["failed", "failed"]
    assert runs(export) == []


def test_a_retry_that_succeeds_runs_the_follower() -> None:
    first = upstream(ADD, args=["one", 2], max_retries=1, retry_delay=timedelta(0))
    export = follower(first)
    due(first)
    scheduler = Scheduler(ImmediateExecutor())
    scheduler.run_once()  # attempt 1 fails: "one" + 2
    Job.objects.filter(pk=first.pk).update(args=[1, 2])
    JobRun.objects.filter(job=first, attempt=2).update(args=[1, 2])
    drain(scheduler)
    failed, retried = runs(first)
    assert (failed.status, retried.status) == ("failed", "succeeded")
    assert [run.upstream_run_id for run in runs(export)] == [retried.pk]


def test_a_manual_run_of_the_upstream_runs_the_follower() -> None:
    first = upstream()
    export = follower(first)
    first.run_now()
    drain(Scheduler(ImmediateExecutor()))
    assert [run.trigger for run in runs(export)] == [RunTrigger.AFTER]


def test_a_paused_follower_or_one_outside_its_window_is_not_run() -> None:
    first = upstream()
    follower(first, "paused", enabled=False)
    follower(first, "later", start_at=db_now() + timedelta(days=1))
    follower(first, "over", end_at=db_now() - timedelta(days=1))
    due(first)
    drain(Scheduler(ImmediateExecutor()))
    assert JobRun.objects.exclude(job=first).count() == 0


def test_a_follower_run_waits_for_a_slot_of_max_instances() -> None:
    first = upstream()
    export = follower(first)
    busy = JobRun.objects.create(
        job=export, job_name="export", scheduled_for=db_now(), status="running", worker="x:1:a"
    )
    due(first)
    drain(Scheduler(ImmediateExecutor()), rounds=2)
    waiting = JobRun.objects.get(job=export, trigger=RunTrigger.AFTER)
    assert (waiting.status, waiting.worker) == ("scheduled", "")
    assert busy.pk != waiting.pk


def test_the_database_holds_one_run_per_follower_and_upstream_run() -> None:
    first = upstream()
    export = follower(first)
    due(first)
    drain(Scheduler(ImmediateExecutor()))
    (run,) = runs(export)
    with pytest.raises(IntegrityError), transaction.atomic():
        JobRun.objects.create(
            job=export, scheduled_for=db_now(), trigger="after", upstream_run_id=run.upstream_run_id
        )


def test_ending_runs_of_jobs_without_followers_costs_no_query() -> None:
    job = upstream()
    now = db_now()
    claim = Claim.of(job, 1, now, "w:1:a")
    with CaptureQueriesContext(connection) as queries:
        assert chains.follow([Outcome(claim, RunStatus.SUCCEEDED, now, now)], "default") == 0
    assert len(queries) == 0


def test_a_claim_knows_whether_its_job_has_followers() -> None:
    first, alone = upstream(), Job.objects.create(name="alone", task=NOOP, interval=timedelta(1))
    follower(first)
    due(first), due(alone)
    claims = Scheduler(ImmediateExecutor()).claimer.claim(10)
    assert {c.job_name: c.followed for c in claims} == {"import": True, "alone": False}
    assert Claim.from_message(claims[0].to_message()) == claims[0]


@override_settings(TABLECRON={"RUN_RETENTION": timedelta(days=10)})
def test_pruning_an_upstream_run_keeps_its_followers_run() -> None:
    first = upstream()
    export = follower(first)
    old = JobRun.objects.create(
        job=first, scheduled_for=db_now() - timedelta(days=20), status="succeeded"
    )
    kept = JobRun.objects.create(
        job=export, scheduled_for=db_now(), status="succeeded", trigger="after", upstream_run=old
    )
    assert Pruner().prune(db_now()).total == 1
    kept.refresh_from_db()
    assert kept.upstream_run_id is None
