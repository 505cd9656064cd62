"""The run-status decision table of a claim: pure, no database."""

from datetime import UTC, datetime, timedelta

import pytest

from tablecron.claiming import RunState, initial_state
from tablecron.models import RunStatus
from tablecron.planning import Planned

NOW = datetime(2026, 12, 2, 9, 0, 0, tzinfo=UTC)
SOON = NOW + timedelta(seconds=0.05)  # due within the claim's look-ahead
ME = "host:1:abc"


@pytest.mark.parametrize(
    ("planned", "starts_at_claim", "expected"),
    [
        (  # missed: ended at once by this scheduler, whatever the executor
            Planned(NOW, RunStatus.MISSED, NOW, "Later than the misfire grace time."),
            True,
            RunState(RunStatus.MISSED, None, NOW, ME),
        ),
        (
            Planned(NOW, RunStatus.FAILED, NOW, "The job's schedule is invalid"),
            False,
            RunState(RunStatus.FAILED, None, NOW, ME),
        ),
        (  # jittered: waits for any scheduler, held by none
            Planned(NOW, RunStatus.SCHEDULED, NOW + timedelta(seconds=3), waits=True),
            True,
            RunState(RunStatus.SCHEDULED, None, None, ""),
        ),
        (  # due now, started at claim: running since now
            Planned(NOW - timedelta(seconds=2), RunStatus.SCHEDULED, NOW),
            True,
            RunState(RunStatus.RUNNING, NOW, None, ME),
        ),
        (  # claimed ahead of its time: running since its time, never before
            Planned(SOON, RunStatus.SCHEDULED, SOON),
            True,
            RunState(RunStatus.RUNNING, SOON, None, ME),
        ),
        (  # an executor that starts runs later: held, not yet running
            Planned(NOW, RunStatus.SCHEDULED, NOW),
            False,
            RunState(RunStatus.SCHEDULED, None, None, ME),
        ),
    ],
)
def test_how_a_planned_run_is_recorded(
    planned: Planned, starts_at_claim: bool, expected: RunState
) -> None:
    assert initial_state(planned, NOW, ME, starts_at_claim=starts_at_claim) == expected
