"""listjobs, runjob and schedulerstatus, called as a person or a monitor would."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tablecron.db import db_now
from tablecron.models import Job, JobRun, SchedulerInstance
from tests.factories import ADD

pytestmark = pytest.mark.django_db(transaction=True)


def call(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_listjobs_shows_schedule_and_next_run() -> None:
    Job.objects.create(name="nightly", task=ADD, args=[1], cron="0 3 * * *", timezone="UTC")
    Job.objects.create(
        name="paused", task=ADD, args=[1], interval=timedelta(minutes=5), enabled=False
    )
    Job.objects.create(name="by-hand", task=ADD, args=[1])
    lines = call("listjobs").splitlines()
    assert lines[0].split() == ["NAME", "TASK", "SCHEDULE", "NEXT", "RUN", "LAST", "STATUS"]
    by_name = {line.split()[0]: line for line in lines[1:]}
    assert "cron 0 3 * * * (UTC)" in by_name["nightly"]
    assert "03:00:00" in by_name["nightly"]
    assert "every 0:05:00" in by_name["paused"]
    assert "paused" in by_name["paused"].split("0:05:00")[1]
    assert "manual only" in by_name["by-hand"]


def test_runjob_runs_and_prints_the_result() -> None:
    job = Job.objects.create(name="sum", task=ADD, args=[2, 3])
    assert call("runjob", "sum").strip() == "5"
    run = JobRun.objects.get(job=job)
    assert (run.trigger, run.status, run.result) == ("manual", "succeeded", 5)
    assert not SchedulerInstance.objects.exists()  # it deregistered


def test_runjob_of_a_failing_job_exits_non_zero() -> None:
    Job.objects.create(name="broken", task="tests.testapp.jobs.fail", kwargs={"message": "no"})
    with pytest.raises(CommandError, match="ended failed") as caught:
        call("runjob", "broken")
    assert caught.value.returncode == 1
    assert "RuntimeError: no" in JobRun.objects.get().error


def test_runjob_of_an_unknown_job() -> None:
    with pytest.raises(CommandError, match="No job is named 'nope'"):
        call("runjob", "nope")


def test_schedulerstatus_exits_non_zero_without_a_live_scheduler() -> None:
    with pytest.raises(CommandError, match="No live tablecron scheduler") as caught:
        call("schedulerstatus")
    assert caught.value.returncode == 1
    old = db_now() - timedelta(minutes=10)
    SchedulerInstance.objects.create(pk="stale", host="h", pid=1, started_at=old, heartbeat_at=old)
    with pytest.raises(CommandError):
        call("schedulerstatus")


def test_schedulerstatus_lists_live_schedulers() -> None:
    now = db_now()
    SchedulerInstance.objects.create(
        pk="web-1:42:abc", host="web-1", pid=42, started_at=now, heartbeat_at=now
    )
    out = call("schedulerstatus")
    assert "web-1:42:abc" in out
    assert "1 live scheduler(s)." in out
