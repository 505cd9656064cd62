"""``Claim``: what an executor receives, and how it travels through a queue."""

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from tablecron.execution import Claim

CLAIM = Claim(
    run_id=7,
    job_id=3,
    job_name="nightly",
    task="tests.testapp.tablecron_jobs.add",
    worker="host:12:abc",
    scheduled_for=datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
    not_before=datetime(2026, 12, 2, 9, 0, 1, 500, tzinfo=UTC),
    args=[1, 2],
    kwargs={"x": [None, "é"]},
    timeout=timedelta(seconds=90.5),
    attempt=2,
    max_retries=3,
    retry_delay=timedelta(minutes=1),
    misfire_grace=None,
    queue="reports",
)


def test_a_claim_survives_a_queue_as_json() -> None:
    message = json.loads(json.dumps(CLAIM.to_message()))
    assert message["scheduled_for"] == "2026-12-02T09:00:00+00:00"
    assert message["timeout"] == 90.5
    assert Claim.from_message(message) == CLAIM


def test_a_message_of_another_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="Not a tablecron claim"):
        Claim.from_message({"run_id": 7})


def test_a_claim_of_a_job_is_the_dataclass_its_fields_make() -> None:
    """``Claim.of`` fills the instance's ``__dict__`` itself: the same object, frozen."""
    job = SimpleNamespace(
        id=3, name="nightly", task=CLAIM.task, args=[9], kwargs={}, timeout=CLAIM.timeout,
        max_retries=3, retry_delay=CLAIM.retry_delay, misfire_grace=None, queue="reports",
    )  # fmt: skip
    claim = Claim.of(job, 7, CLAIM.scheduled_for, CLAIM.worker, attempt=2,
                     not_before=CLAIM.not_before, args=[1, 2], kwargs=CLAIM.kwargs)  # fmt: skip
    assert claim == CLAIM
    assert repr(claim) == repr(CLAIM)
    assert dataclasses.asdict(claim) == dataclasses.asdict(CLAIM)
    assert Claim.from_message(claim.to_message()) == claim
    assert Claim.of(job, 8, CLAIM.scheduled_for, "w").args == [9]  # the job's, by default
    with pytest.raises(dataclasses.FrozenInstanceError):
        claim.run_id = 8  # type: ignore[misc]
