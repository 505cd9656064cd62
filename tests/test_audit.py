"""The audit trail of writes from code: every ORM path records what changed, field by
field, as done by code; the scheduler's own writes record nothing."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.admin.models import ADDITION, CHANGE, DELETION
from django.contrib.auth.models import User
from django.core.checks import Warning
from django.test import override_settings

from tablecron import audit
from tablecron.checks import check_settings
from tablecron.executors.immediate import ImmediateExecutor
from tablecron.models import Job, JobRun
from tablecron.scheduler import Scheduler
from tests.support.audit import audit_trail, trail
from tests.support.factories import YEARLY, job
from tests.support.scheduling import due, make_job

pytestmark = pytest.mark.django_db


def test_a_job_created_in_code_is_recorded_as_code_with_its_values() -> None:
    job(name="report", description="nightly").save()
    (entry,) = trail()
    assert (entry["job"], entry["flag"], entry["via"], entry["user"]) == (
        "report",
        ADDITION,
        "code",
        audit.CODE_USER,
    )
    assert entry["changes"]["cron"] == [None, YEARLY]
    assert entry["changes"]["description"] == [None, "nightly"]
    assert entry["django"] == [{"added": {}}]
    code_user = User.objects.get(username=audit.CODE_USER)
    assert not code_user.is_active
    assert not code_user.has_usable_password()


def test_a_save_records_only_the_fields_that_changed() -> None:
    saved = job(name="report")
    saved.save()
    loaded = Job.objects.get(pk=saved.pk)
    loaded.cron = "0 6 * * *"
    loaded.kwargs = {"days": 3}
    loaded.save()
    loaded.save()  # nothing changed: nothing recorded
    entries = trail()
    assert len(entries) == 2
    change = entries[1]
    assert change["flag"] == CHANGE
    assert change["changes"] == {"kwargs": [{}, {"days": 3}], "cron": [YEARLY, "0 6 * * *"]}
    assert change["django"] == [{"changed": {"fields": ["keyword arguments", "cron expression"]}}]


def test_durations_and_times_are_written_as_the_form_shows_them() -> None:
    saved = job(name="pinger", cron="", interval=timedelta(minutes=15))
    saved.save()
    saved.interval = timedelta(hours=1, seconds=30)
    saved.save()
    assert trail()[1]["changes"] == {"interval": ["00:15:00", "01:00:30"]}


def test_update_records_each_row_with_its_values_before_and_after() -> None:
    for name in ("a", "b", "c"):
        job(name=name, description=f"old {name}").save()
    Job.objects.filter(name__in=["a", "b"]).update(description="new", timeout=timedelta(seconds=5))
    changes = {entry["job"]: entry["changes"] for entry in trail(action_flag=CHANGE)}
    assert changes == {
        "a": {"description": ["old a", "new"], "timeout": [None, "00:00:05"]},
        "b": {"description": ["old b", "new"], "timeout": [None, "00:00:05"]},
    }


def test_pause_and_resume_from_code_in_bulk_and_one_by_one() -> None:
    one = job(name="one")
    one.save()
    Job.objects.update(enabled=False)
    one.refresh_from_db()
    one.resume()
    one.pause()
    assert [entry["changes"] for entry in trail(action_flag=CHANGE)] == [
        {"enabled": [True, False]},
        {"enabled": [False, True]},
        {"enabled": [True, False]},
    ]


def test_bulk_create_and_bulk_update_are_recorded() -> None:
    jobs = Job.objects.bulk_create([job(name="x"), job(name="y")])
    for each in jobs:
        each.queue = "reports"
    Job.objects.bulk_update(jobs, ["queue"])
    entries = trail()
    assert [(e["job"], e["flag"]) for e in entries] == [
        ("x", ADDITION),
        ("y", ADDITION),
        ("x", CHANGE),
        ("y", CHANGE),
    ]
    assert entries[2]["changes"] == {"queue": ["", "reports"]}
    assert entries[0]["object_id"] == str(jobs[0].pk)


def test_deletes_one_by_one_and_in_bulk_are_recorded() -> None:
    for name in ("a", "b", "c"):
        job(name=name).save()
    Job.objects.get(name="a").delete()
    Job.objects.filter(name__in=["b", "c"]).delete()
    assert sorted(e["job"] for e in trail(action_flag=DELETION)) == ["a", "b", "c"]


def test_run_now_is_recorded_with_its_run() -> None:
    saved = job(name="report")
    saved.save()
    run = saved.run_now()
    entry = trail()[-1]
    assert (entry["action"], entry["run"], entry["changes"]) == ("run_now", run.pk, {})


def test_acting_names_the_user_and_the_door() -> None:
    alice = User.objects.create_user("alice")
    with audit.acting(alice, "api", "pause"):
        saved = job(name="report")
        saved.save()
    job(name="after").save()
    entries = trail()
    assert [(e["user"], e["via"], e["action"]) for e in entries] == [
        ("alice", "api", "pause"),
        (audit.CODE_USER, "code", ""),
    ]


@pytest.mark.django_db(transaction=True)
def test_the_schedulers_writes_record_nothing() -> None:
    scheduled = due(make_job())
    before = len(trail())
    scheduler = Scheduler(ImmediateExecutor())
    scheduler.start()
    for _ in range(3):
        scheduler.run_once()
    scheduled.refresh_from_db()
    assert scheduled.last_status == "succeeded"
    assert JobRun.objects.count() == 1
    assert len(trail()) == before == 1  # the job's creation only


def test_code_that_writes_the_schedulers_columns_records_nothing() -> None:
    saved = job(name="report")
    saved.save()
    Job.objects.filter(pk=saved.pk).update(last_status="failed", next_run_at=None)
    assert len(trail()) == 1


@audit_trail(on=False)
def test_off_it_records_nothing() -> None:
    job(name="report").save()
    Job.objects.update(description="x")
    assert trail() == []


def test_it_warns_when_asked_for_without_the_admin() -> None:
    without_admin = [app for app in settings.INSTALLED_APPS if app != "django.contrib.admin"]
    with audit_trail(on=True), override_settings(INSTALLED_APPS=without_admin):
        (warning,) = check_settings(None)
    assert isinstance(warning, Warning)
    assert warning.id == "tablecron.W008"
    with audit_trail(on=True):
        assert check_settings(None) == []


def test_bulk_writes_work_when_nobody_listens() -> None:
    """Without django.contrib.admin the trail does not listen (audit.install()): the ORM's
    bulk paths compute no writes, and still save every row."""
    from tablecron.signals import jobs_written

    assert jobs_written.disconnect(sender=Job, dispatch_uid="tablecron.audit")
    try:
        created = Job.objects.bulk_create([job(name=f"bulk-{n}") for n in range(3)])
        assert len(created) == 3
        Job.objects.bulk_update(created, ["description"])
        assert Job.objects.filter(name__startswith="bulk-").count() == 3
    finally:
        audit.install()
    assert trail() == []
