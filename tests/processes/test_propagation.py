"""A change committed by another process reaches a running scheduler within 1 s; on
PostgreSQL at once, through LISTEN/NOTIFY, even with a long poll interval."""

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from tablecron.models import Job, JobRun, SchedulerInstance
from tests.support.processes import calls, schedulers, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
T = "tests.testapp.tablecron_jobs."
POSTGRES = connection.vendor == "postgresql"
# On PostgreSQL a 30 s poll proves the wake-up comes from NOTIFY, not from polling.
POLL = 30.0 if POSTGRES else 0.5


def started_within(run_query: object, seconds: float) -> float:
    began = time.monotonic()
    wait_for(lambda: run_query.filter(status="succeeded").exists(), seconds, "the run")  # type: ignore[attr-defined]
    return time.monotonic() - began


def record_kwargs(path: Path, label: str) -> dict[str, str]:
    return {"path": str(path), "label": label}


def test_create_edit_pause_delete_reach_a_running_scheduler(tmp_path: Path) -> None:
    path = tmp_path / "calls.log"
    with schedulers(1, tmp_path, POLL_INTERVAL=POLL):
        wait_for(lambda: SchedulerInstance.objects.exists(), 60, "the scheduler")
        time.sleep(1)  # let it settle into its wait

        # Created: a one-off due now runs within a second.
        created = Job.objects.create(
            name="created",
            task=T + "record",
            run_at=timezone.now(),
            kwargs=record_kwargs(path, "created"),
        )
        took = started_within(JobRun.objects.filter(job=created), 1.0)
        print(f"\ncreate → run: {took * 1000:.0f} ms")

        # Edited: a job far in the future is moved to now.
        edited = Job.objects.create(
            name="edited",
            task=T + "record",
            run_at=timezone.now() + timedelta(days=1),
            kwargs=record_kwargs(path, "edited"),
        )
        time.sleep(0.5)
        edited.run_at = timezone.now()
        edited.save()
        took = started_within(JobRun.objects.filter(job=edited), 1.0)
        print(f"edit → run: {took * 1000:.0f} ms")

        # Manual run from another process.
        edited.run_now()
        wait_for(
            lambda: JobRun.objects.filter(job=edited, status="succeeded").count() == 2,
            1.0,
            "the manual run",
        )

        # Paused and deleted: every-second jobs stop firing within a second.
        for name in ("paused", "deleted"):
            Job.objects.create(
                name=name, task=T + "record", cron="* * * * * *", kwargs=record_kwargs(path, name)
            )
        wait_for(lambda: {c.label for c in calls(path)} >= {"paused", "deleted"}, 5, "fires")
        Job.objects.get(name="paused").pause()
        Job.objects.filter(name="deleted").delete()
        stopped = time.time()
        time.sleep(2.5)
    late = [
        c for c in calls(path) if c.label in ("paused", "deleted") and c.called_at > stopped + 1
    ]
    assert late == []
