"""QueueExecutor, what every queue's executor shares: a claimed batch is published in
order over one ``sending()``, its ``queued_at`` written once; while the queue is away the
rest wait, in order, and the scheduler claims nothing more."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tablecron.execution import Claim
from tablecron.executors.queues import QueueExecutor
from tablecron.models import JobRun
from tablecron.scheduler import Scheduler
from tests.support.scheduling import due, make_job

pytestmark = pytest.mark.django_db(transaction=True)


class ListQueue(QueueExecutor):
    """A queue that is a list, and that can be away: what these tests look at is the
    executor's buffering, not an engine (tests/executors/test_celery.py has the real one)."""

    name = "list"

    def __init__(self) -> None:
        super().__init__()
        self.published: list[int] = []
        self.batches = 0
        self.away = False

    @contextmanager
    def sending(self) -> Iterator[object]:
        if self.away:
            raise OSError("connection refused")
        self.batches += 1
        yield None

    def publish(self, claim: Claim) -> None:
        if self.away:
            raise OSError("connection refused")
        self.published.append(claim.run_id)
        if len(self.published) == 2:
            self.away = True  # the queue goes away after the second message


def queued() -> dict[int, bool]:
    return {pk: at is not None for pk, at in JobRun.objects.values_list("pk", "queued_at")}


def test_a_batch_goes_in_order_and_waits_while_the_queue_is_away() -> None:
    for name in "abcd":
        due(make_job(name))
    executor = ListQueue()
    scheduler = Scheduler(executor)

    scheduler.run_once()
    runs = list(JobRun.objects.order_by("pk").values_list("pk", flat=True))
    assert len(runs) == 4
    assert executor.published == runs[:2]
    assert executor.batches == 1
    assert queued() == {runs[0]: True, runs[1]: True, runs[2]: False, runs[3]: False}
    assert executor.free_slots() == 0  # the scheduler claims nothing more meanwhile

    executor.wait_for_slot(0)  # still away: nothing sent, nothing lost
    assert executor.published == runs[:2]
    assert executor.free_slots() == 0

    executor.away = False
    executor.wait_for_slot(0)
    assert executor.published == runs
    assert all(queued().values())
    assert executor.free_slots() > 0
    assert set(JobRun.objects.values_list("status", flat=True)) == {"scheduled"}


def test_a_claim_that_can_never_be_sent_fails_its_run_and_the_rest_go() -> None:
    class Refusing(ListQueue):
        def publish(self, claim: Claim) -> None:
            if claim.job_name == "b":
                raise TypeError("not serializable")
            super().publish(claim)

    for name in "abc":
        due(make_job(name))
    executor = Refusing()
    Scheduler(executor).run_once()
    statuses = dict(JobRun.objects.values_list("job_name", "status"))
    assert statuses == {"a": "scheduled", "b": "failed", "c": "scheduled"}
    assert "could not be sent to list" in JobRun.objects.get(job_name="b").error
    assert executor.published == list(
        JobRun.objects.filter(job_name__in="ac").order_by("pk").values_list("pk", flat=True)
    )
