"""``EXECUTOR: "celery"`` with real ``celery -A … worker`` processes on a real broker."""

from datetime import timedelta
from pathlib import Path

import pytest

from tablecron.models import JobRun, SchedulerInstance
from tests.processes import (
    calls,
    celery_env,
    celery_workers,
    check_exactly_once,
    expected_fires,
    report,
    schedulers,
    soak,
    wait_for,
)

pytest.importorskip("celery")
pytestmark = pytest.mark.django_db(transaction=True)


def test_every_fire_runs_exactly_once_on_celery_workers(tmp_path: Path) -> None:
    jobs, seconds, path = 50, 20, tmp_path / "calls.log"
    env = celery_env()
    with celery_workers(2, tmp_path, env), schedulers(2, tmp_path, env):
        wait_for(lambda: SchedulerInstance.objects.count() >= 2, 60, "schedulers")
        first, paused = soak(jobs, path, seconds)
    recorded = calls(path)
    report("celery, exactly once", recorded)
    expected = expected_fires(jobs, first, paused - timedelta(seconds=1))
    check_exactly_once(recorded, expected)
    ran = JobRun.objects.filter(status="succeeded")
    assert ran.count() == len(recorded)
    assert set(ran.values_list("executor", flat=True)) == {"celery"}
    assert all(run.worker.startswith("celery@") and run.engine_id for run in ran)
    assert len({call.pid for call in recorded}) > 1, "one process did all the work"
