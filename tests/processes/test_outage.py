"""The database kills the scheduler's connections, repeatedly: it logs, reconnects and goes
on by itself, and nothing fires twice because of it."""

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection

from tablecron.db import db_now
from tablecron.models import Job, JobRun, SchedulerInstance
from tests.support.processes import (
    calls,
    every_second_jobs,
    expected_fires,
    schedulers,
    wait_for,
    wait_for_fires,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite has no connections to kill"),
]


def kill_other_connections() -> int:
    """Terminate every other session on the test database, as a DBA or failover would."""
    name = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
            return len(cursor.fetchall())
        cursor.execute(
            "SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()",
            [name],
        )
        ids = [row[0] for row in cursor.fetchall()]
        for session in ids:
            cursor.execute(f"KILL {int(session)}")
        return len(ids)


def test_scheduler_reconnects_after_its_connections_are_killed(tmp_path: Path) -> None:
    jobs, path = 20, tmp_path / "calls.log"
    with schedulers(1, tmp_path, HEARTBEAT_INTERVAL=1, POLL_INTERVAL=0.5) as (proc,):
        wait_for(lambda: SchedulerInstance.objects.exists(), 60, "the scheduler")
        first = every_second_jobs(jobs, path)
        wait_for_fires(path, expected_fires(jobs, first, first), 30)
        killed = []
        for _ in range(3):
            killed.append(kill_other_connections())
            at = db_now()
            # It resumes: a fire due after the kill runs (the next kill finds it connected).
            wait_for(
                lambda at=at: any(call.scheduled_for > at for call in calls(path)),
                30,
                "the scheduler to fire again after its connections were killed",
            )
        assert proc.poll() is None, "the scheduler died"
        Job.objects.update(enabled=False)
        paused = db_now()
        wait_for(lambda: not JobRun.objects.active().exists(), 30, "running work to end")
    assert proc.returncode == 0
    assert sum(killed) >= 3
    recorded = Counter((c.label, c.scheduled_for) for c in calls(path))
    assert {fire: n for fire, n in recorded.items() if n > 1} == {}
    # A run whose connection died between its start's commit and the reply is lost, not
    # repeated; every other fire ran, late if it fell into the outage.
    lost = set(JobRun.objects.filter(status="lost").values_list("job_name", "scheduled_for"))
    expected = expected_fires(jobs, first, paused - timedelta(seconds=1))
    missing = expected - set(recorded) - lost
    assert not missing, f"{len(missing)} fires never ran: {sorted(missing)[:5]}"
    log = (tmp_path / "scheduler-0.log").read_text()
    print(
        f"\n{sum(killed)} connections killed; {len(lost)} runs lost; "
        f"{log.count('retrying in')} failed loops logged"
    )
