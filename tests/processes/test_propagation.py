"""A change committed by another process reaches a running scheduler within 1 s; on
PostgreSQL at once, through LISTEN/NOTIFY, even with a long poll interval."""

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from tablecron.models import Job, JobRun, SchedulerInstance
from tablecron.sql import statements
from tests.support.processes import calls, schedulers, tablecrons_connection, wait_for

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


def listening() -> bool:
    """Whether a scheduler waits on PostgreSQL's LISTEN (a session of its own, whose
    last statement is the LISTEN)."""
    with tablecrons_connection().cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query = %s",
            [statements().listen_sql],
        )
        return cursor.fetchone() is not None


def test_create_edit_pause_delete_reach_a_running_scheduler(tmp_path: Path) -> None:
    path = tmp_path / "calls.log"
    with schedulers(1, tmp_path, POLL_INTERVAL=POLL):
        wait_for(lambda: SchedulerInstance.objects.exists(), 60, "the scheduler")
        if POSTGRES:  # elsewhere it polls every 0.5 s
            wait_for(listening, 30, "the scheduler to LISTEN")

        # Created: a one-off due now runs within a second. A job far in the future is
        # created first: once the one-off has run, the scheduler has seen both.
        edited = Job.objects.create(
            name="edited",
            task=T + "record",
            run_at=timezone.now() + timedelta(days=1),
            kwargs=record_kwargs(path, "edited"),
        )
        created = Job.objects.create(
            name="created",
            task=T + "record",
            run_at=timezone.now(),
            kwargs=record_kwargs(path, "created"),
        )
        took = started_within(JobRun.objects.filter(job=created), 1.0)
        print(f"\ncreate → run: {took * 1000:.0f} ms")

        # Edited: the job far in the future is moved to now.
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

        # Paused and deleted: every-second jobs stop firing within a second, while a
        # third one goes on: its fires after that second prove the scheduler looked.
        for name in ("paused", "deleted", "witness"):
            Job.objects.create(
                name=name, task=T + "record", cron="* * * * * *", kwargs=record_kwargs(path, name)
            )
        wait_for(lambda: {c.label for c in calls(path)} >= {"paused", "deleted"}, 5, "fires")
        Job.objects.get(name="paused").pause()
        Job.objects.filter(name="deleted").delete()
        stopped = time.time()
        wait_for(
            lambda: any(
                c.label == "witness" and c.scheduled_for.timestamp() > stopped + 2
                for c in calls(path)
            ),
            10,
            "the witness to fire 2 s after the others stopped",
        )
    late = [
        c for c in calls(path) if c.label in ("paused", "deleted") and c.called_at > stopped + 1
    ]
    assert late == []
