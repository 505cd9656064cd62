"""``planning.plan()`` on its own: a due row and a time in, the runs to record out.

No database: ``plan()`` is a pure function of a ``DueJob``, the time, the count of
active runs and a random source, so each rule is checked here with exact values.
"""

import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tablecron.models import RunStatus
from tablecron.models.job_queryset import SCHEDULE_FIELDS
from tablecron.planning import MAX_CATCHUP, DueJob, Plan, Planned, plan

T0 = datetime(2031, 1, 6, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
GRACE_MISSED = "Later than the misfire grace time."


def due(**fields: Any) -> DueJob:
    """A due row: every minute from T0, no grace, no coalescing, up to 10 runs at once."""
    values: dict[str, Any] = {
        "id": 1,
        "name": "job",
        "task": "tests.testapp.jobs.add",
        "args": [1],
        "kwargs": {},
        "cron": "",
        "interval": MINUTE,
        "run_at": None,
        "timezone": "UTC",
        "start_at": None,
        "end_at": None,
        "jitter": None,
        "misfire_grace": None,
        "coalesce": False,
        "max_instances": 10,
        "timeout": None,
        "max_retries": 0,
        "retry_delay": timedelta(seconds=60),
        "next_run_at": T0,
        "version": 0,
    }
    return DueJob(**{**values, **fields})


def at(minutes: float) -> datetime:
    return T0 + minutes * MINUTE


def runs_now(*minutes: float) -> list[Planned]:
    """Runs to start at once, scheduled ``minutes`` after T0."""
    return [Planned(at(m), RunStatus.SCHEDULED, at(m)) for m in minutes]


def missed(why: str, *minutes: float) -> list[Planned]:
    return [Planned(at(m), RunStatus.MISSED, at(m), why) for m in minutes]


def rng() -> random.Random:
    return random.Random(20310106)


# -- one fire ----------------------------------------------------------------------------


def test_a_fire_on_time_runs_and_the_schedule_moves_on() -> None:
    assert plan(due(), at(0.5), 0, rng()) == Plan(runs_now(0), at(1))


def test_nothing_is_due_before_next_run_at() -> None:
    assert plan(due(next_run_at=at(2)), at(1), 0, rng()) == Plan([], at(2))


def test_claiming_ahead_takes_the_fires_up_to_until() -> None:
    early = at(1) - timedelta(milliseconds=50)
    until = at(1) + timedelta(milliseconds=50)
    assert plan(due(), early, 0, rng(), until) == Plan(runs_now(0, 1), at(2))


def test_a_one_off_fires_once_and_has_no_next_run() -> None:
    one_off = due(interval=None, run_at=T0, next_run_at=T0)
    assert plan(one_off, at(5), 0, rng()) == Plan(runs_now(0), None)


# -- misfire grace -----------------------------------------------------------------------


def test_fires_later_than_the_grace_are_recorded_missed_with_the_reason() -> None:
    job = due(misfire_grace=2 * MINUTE)
    # At 3:30 the fires of 0:00 and 1:00 are 3.5 and 2.5 minutes late; 2:00 is in time.
    assert plan(job, at(3.5), 0, rng()) == Plan(missed(GRACE_MISSED, 0, 1) + runs_now(2, 3), at(4))


def test_a_fire_exactly_the_grace_late_still_runs() -> None:
    job = due(misfire_grace=2 * MINUTE)
    assert plan(job, at(2), 0, rng()) == Plan(runs_now(0, 1, 2), at(3))


def test_no_grace_means_any_lateness() -> None:
    assert plan(due(), at(3), 0, rng()) == Plan(runs_now(0, 1, 2, 3), at(4))


# -- coalesce ----------------------------------------------------------------------------


def test_coalesce_runs_the_newest_fire_and_records_the_others() -> None:
    why = f"Coalesced into the run of {at(3)}."
    assert plan(due(coalesce=True), at(3.5), 0, rng()) == Plan(
        missed(why, 0, 1, 2) + runs_now(3), at(4)
    )


def test_coalesce_after_the_grace_keeps_each_reason() -> None:
    job = due(coalesce=True, misfire_grace=2 * MINUTE)
    why = f"Coalesced into the run of {at(3)}."
    assert plan(job, at(3.5), 0, rng()) == Plan(
        missed(GRACE_MISSED, 0, 1) + missed(why, 2) + runs_now(3), at(4)
    )


def test_a_single_fire_is_not_coalesced() -> None:
    assert plan(due(coalesce=True), at(0.5), 0, rng()) == Plan(runs_now(0), at(1))


# -- max_instances -----------------------------------------------------------------------


def test_active_runs_count_against_max_instances() -> None:
    job = due(max_instances=2)
    why = "2 run(s) already active."
    # One run is going: room for one more, the newest fire; the older two are skipped.
    assert plan(job, at(2), 1, rng()) == Plan(missed(why, 0, 1) + runs_now(2), at(3))


def test_with_every_instance_busy_each_fire_is_recorded_skipped() -> None:
    why = "1 run(s) already active."
    assert plan(due(max_instances=1), at(1), 1, rng()) == Plan(missed(why, 0, 1), at(2))
    assert plan(due(max_instances=1), at(1), 3, rng()) == Plan(missed(why, 0, 1), at(2))


def test_max_instances_limits_fires_of_one_claim_too() -> None:
    why = "1 run(s) already active."
    assert plan(due(max_instances=1), at(2), 0, rng()) == Plan(
        missed(why, 0, 1) + runs_now(2), at(3)
    )


# -- jitter ------------------------------------------------------------------------------


def test_jitter_delays_each_run_within_its_bound() -> None:
    jitter = timedelta(seconds=30)
    result = plan(due(jitter=jitter), at(1), 0, rng())
    draws = rng()
    expected = [
        Planned(at(m), RunStatus.SCHEDULED, at(m) + draws.random() * jitter, waits=True)
        for m in (0, 1)
    ]
    assert result == Plan(expected, at(2))
    for run in result.runs:
        assert run.scheduled_for <= run.not_before <= run.scheduled_for + jitter
    assert result.runs[0].not_before - at(0) != result.runs[1].not_before - at(1)


def test_without_jitter_no_random_number_is_drawn() -> None:
    source = rng()
    state = source.getstate()
    plan(due(), at(1), 0, source)
    assert source.getstate() == state


def test_skipped_fires_are_not_jittered() -> None:
    job = due(jitter=timedelta(seconds=30), coalesce=True)
    result = plan(job, at(1), 0, rng())
    assert result.runs[0] == Planned(
        at(0), RunStatus.MISSED, at(0), f"Coalesced into the run of {at(1)}."
    )
    assert result.runs[1].waits
    assert result.runs[1].not_before == at(1) + rng().random() * timedelta(seconds=30)


# -- windows -----------------------------------------------------------------------------


def test_end_at_ends_the_schedule_and_includes_a_fire_on_it() -> None:
    assert plan(due(end_at=at(1)), at(1), 0, rng()) == Plan(runs_now(0, 1), None)
    assert plan(due(end_at=at(1.5)), at(0.5), 0, rng()) == Plan(runs_now(0), at(1))


def test_the_fire_after_next_run_at_waits_for_start_at() -> None:
    hourly = due(interval=None, cron="0 * * * *", start_at=at(90))
    # The window opens at 10:30: the next hourly fire in it is 11:00.
    assert plan(hourly, at(0), 0, rng()) == Plan(runs_now(0), at(120))


def test_an_interval_counts_from_start_at() -> None:
    anchored = due(interval=15 * MINUTE, start_at=at(-7), next_run_at=at(8))
    assert plan(anchored, at(8), 0, rng()) == Plan(runs_now(8), at(23))


# -- catching up after downtime ----------------------------------------------------------


def test_at_most_max_catchup_fires_run_then_one_run_records_the_rest_missed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    every_second = due(interval=timedelta(seconds=1), max_instances=1000)
    now = T0 + timedelta(seconds=1000)
    with caplog.at_level(logging.WARNING, logger="tablecron"):
        result = plan(every_second, now, 0, rng())
    *caught_up, rest = result.runs
    assert [run.scheduled_for for run in caught_up] == [
        T0 + timedelta(seconds=s) for s in range(MAX_CATCHUP)
    ]
    assert {run.status for run in caught_up} == {RunStatus.SCHEDULED}
    # The fires beyond are not silently absent: one run says they were missed.
    assert rest == Planned(
        T0 + timedelta(seconds=MAX_CATCHUP),
        RunStatus.MISSED,
        T0 + timedelta(seconds=MAX_CATCHUP),
        f"Missed with every later fire up to 2031-01-06 09:16:40+00:00: "
        f"more than {MAX_CATCHUP} were due at once.",
    )
    assert result.next_run_at == now + timedelta(seconds=1)
    assert caplog.messages == [f"tablecron: job missed more than {MAX_CATCHUP} fires"]


# -- a schedule that cannot be read --------------------------------------------------------


def test_an_invalid_schedule_is_one_failed_run_and_no_next_run() -> None:
    broken = due(interval=None, cron="@daily", timezone="Nowhere/Land")
    error = (
        "The job's schedule is invalid: “Nowhere/Land” is not a known time zone. "
        "Use an IANA name such as “Europe/Paris”."
    )
    assert plan(broken, at(3), 0, rng()) == Plan([Planned(T0, RunStatus.FAILED, T0, error)], None)
    without_next = broken._replace(next_run_at=None)
    failed = Planned(at(3), RunStatus.FAILED, at(3), error)
    assert plan(without_next, at(3), 0, rng()) == Plan([failed], None)


# -- the row it reads ----------------------------------------------------------------------


def test_a_due_row_carries_every_field_a_schedule_is_built_from() -> None:
    # All of Job's schedule fields but "enabled": due rows are enabled ones.
    assert set(SCHEDULE_FIELDS) - set(DueJob._fields) == {"enabled"}
