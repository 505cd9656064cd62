"""``ProcessExecutor``: a run past its timeout is killed with its process."""

import time
from datetime import timedelta

import pytest
from django.db import connection

from tablecron.executors.process import ProcessExecutor
from tablecron.models import JobRun
from tablecron.scheduler import Scheduler
from tests.support.factories import T
from tests.support.processes import wait_for
from tests.support.scheduling import due, make_job, runs

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_process_executor_kills_a_run_at_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLECRON_DB_NAME", str(connection.settings_dict["NAME"]))  # its processes'
    executor = ProcessExecutor(max_workers=2)
    scheduler = Scheduler(executor)
    scheduler.start()
    hung = due(make_job("hung", task=T + "stubborn", args=[60], timeout=timedelta(seconds=1)))
    fine = due(make_job("fine"))
    ended = JobRun.objects.exclude(status__in=["scheduled", "running"])
    deadline = time.monotonic() + 60  # the first runs wait for their processes to start
    while ended.count() < 2 and time.monotonic() < deadline:
        scheduler.run_once()
        time.sleep(0.05)
    (killed,), (ran,) = runs(hung), runs(fine)
    assert (killed.status, ran.status, ran.result) == ("timed_out", "succeeded", 3)
    assert "process was killed" in killed.error
    assert killed.duration is not None
    assert killed.duration < timedelta(seconds=5)
    # The executor lets a run go just after writing its end: a moment later, maybe.
    wait_for(lambda: executor.running_ids() == set(), 10, "the executor to let its runs go")
    assert executor.shutdown(5) == []
