"""Jobs declared in code, written into the table by ``sync()`` and ``manage.py tablecron
sync``: made, updated, disabled when gone, never clobbering a row made in the table, and
exactly one row per job however many processes sync at once."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

import tablecron
from tablecron.code_jobs import CodeJob, CodeJobs, declared, schedule_fields
from tablecron.exceptions import JobAlreadyDeclared
from tablecron.models import CodeStatus, Job
from tablecron.sync import Action, Change, sync
from tests.support import ROOT
from tests.support.factories import ADD, job
from tests.support.processes import child_env

# What tests/testapp/tablecron_jobs.py and the example's demo app declare.
DECLARED = {"code-add", "code-greet", "tests.testapp.tablecron_jobs.noop", "nightly-cleanup"}


def actions(changes: list[Change]) -> dict[str, Action]:
    return {change.name: change.action for change in changes}


@pytest.mark.django_db
def test_sync_makes_the_declared_rows_then_changes_nothing() -> None:
    assert actions(sync()) == dict.fromkeys(DECLARED, Action.CREATE)
    add = Job.objects.get(name="code-add")
    assert (add.task, add.args, add.cron, add.timezone) == (
        ADD,
        [1, 2],
        "0 3 * * *",
        "Europe/Paris",
    )
    assert add.code_status == CodeStatus.DECLARED
    assert add.next_run_at is not None
    assert add.next_run_at.astimezone(ZoneInfo("Europe/Paris")).hour == 3
    greet = Job.objects.get(name="code-greet")
    assert (greet.interval, greet.enabled, greet.next_run_at) == (timedelta(hours=1), False, None)
    assert Job.objects.get(name="tests.testapp.tablecron_jobs.noop").cron == "*/5 * * * *"
    versions = dict(Job.objects.values_list("name", "version"))

    assert actions(sync()) == dict.fromkeys(DECLARED, Action.UNCHANGED)
    assert dict(Job.objects.values_list("name", "version")) == versions


@pytest.mark.django_db
def test_code_owns_its_fields_and_people_own_enabled() -> None:
    sync()
    row = Job.objects.get(name="code-add")
    row.cron, row.max_retries = "0 4 * * *", 3  # edited behind code's back (the ORM)
    row.save()
    row.pause()

    changes = sync()
    assert Change("code-add", Action.UPDATE, "cron, max_retries") in changes
    row.refresh_from_db()
    assert (row.cron, row.max_retries, row.enabled) == ("0 3 * * *", 0, False)


@pytest.mark.django_db
def test_code_owns_the_name_so_a_rename_cannot_split_a_job_in_two() -> None:
    sync()
    row = Job.objects.get(name="code-add")
    row.pause()  # an operator's pause, which sync must keep
    row.name = "renamed"
    with pytest.raises(ValidationError) as refused:
        row.full_clean()
    assert list(refused.value.message_dict) == ["name"]
    assert "declared in code" in refused.value.message_dict["name"][0]
    assert actions(sync())["code-add"] == Action.UNCHANGED
    assert list(
        Job.objects.filter(name__in=["code-add", "renamed"]).values_list("name", "enabled")
    ) == [("code-add", False)]
    row.refresh_from_db()
    row.description = "a person's edit of another field is still checked as usual"
    row.full_clean()


@pytest.mark.django_db
def test_a_row_made_in_the_table_is_left_alone() -> None:
    job(name="code-add", cron="0 5 * * *").save()

    changes = sync()
    assert Change("code-add", Action.SKIP, "a job of this name was made in the table") in changes
    row = Job.objects.get(name="code-add")
    assert (row.cron, row.code_status) == ("0 5 * * *", CodeStatus.TABLE)


@pytest.mark.django_db
def test_a_job_removed_from_code_is_disabled_and_taken_back_when_declared_again() -> None:
    sync()
    others = [j for j in declared if j.name != "code-add"]

    assert Change("code-add", Action.DISABLE, "no longer declared in code") in sync(others)
    row = Job.objects.get(name="code-add")
    assert (row.enabled, row.next_run_at, row.code_status) == (False, None, CodeStatus.REMOVED)
    assert actions(sync(others)) == dict.fromkeys(DECLARED - {"code-add"}, Action.UNCHANGED)

    assert Change("code-add", Action.UPDATE, "code_status, enabled") in sync()
    row.refresh_from_db()
    assert (row.enabled, row.code_status) == (True, CodeStatus.DECLARED)
    assert row.next_run_at is not None


@pytest.mark.django_db
def test_an_invalid_declaration_is_reported_and_not_written() -> None:
    bad = [
        CodeJob("unknown", {"task": "no.such.task", "cron": "@daily"}),
        CodeJob("bad-cron", {"task": ADD, "args": [1], "cron": "61 * * * *"}),
    ]
    changes = {change.name: change for change in sync(bad)}
    assert changes["unknown"].action == Action.INVALID
    assert "“no.such.task” is not a registered task" in changes["unknown"].detail
    assert changes["bad-cron"].detail.startswith("cron: ")
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_dry_run_writes_nothing() -> None:
    assert actions(sync(dry_run=True)) == dict.fromkeys(DECLARED, Action.CREATE)
    assert not Job.objects.exists()
    sync()
    Job.objects.filter(name="code-add").update(cron="1 1 * * *")
    assert Change("code-add", Action.UPDATE, "cron") in sync(dry_run=True)
    assert Job.objects.get(name="code-add").cron == "1 1 * * *"


@pytest.mark.django_db
def test_the_command_prints_each_change_and_fails_on_a_clash() -> None:
    out = StringIO()
    call_command("tablecron", "sync", stdout=out)
    assert "create     code-add" in out.getvalue()
    assert "4 job(s) declared or removed in code; changed 4." in out.getvalue()

    Job.objects.filter(name="code-greet").update(code_status=CodeStatus.TABLE)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="not written") as raised:
        call_command("tablecron", "sync", "--dry-run", stdout=out, stderr=err)
    assert raised.value.returncode == 1
    assert "skip       code-greet: a job of this name was made in the table" in err.getvalue()
    assert "would change 0" in out.getvalue()


def test_register_schedule_shorthand_and_declaration_errors() -> None:
    assert schedule_fields("@daily") == {"cron": "@daily"}
    assert schedule_fields(timedelta(minutes=5)) == {"interval": timedelta(minutes=5)}
    at = datetime(2030, 1, 1, tzinfo=UTC)
    assert schedule_fields(at) == {"run_at": at}
    with pytest.raises(TypeError, match="schedule= takes"):
        schedule_fields(5)  # type: ignore[arg-type]
    jobs = CodeJobs()
    jobs.add(CodeJob("a", {"task": ADD, "cron": "@daily"}))
    jobs.add(CodeJob("a", {"task": ADD, "cron": "@daily"}))  # the same again: fine
    with pytest.raises(JobAlreadyDeclared, match="'a' is declared twice"):
        jobs.add(CodeJob("a", {"task": ADD, "cron": "@hourly"}))
    with pytest.raises(TypeError, match=r"cannot set: \['last_run_at'\]"):
        tablecron.declare("b", task=ADD, last_run_at=at)
    assert [j.name for j in jobs] == ["a"]


@pytest.mark.django_db(transaction=True)
def test_many_processes_syncing_at_once_make_exactly_one_row_per_job() -> None:
    # An old row of a job since removed from code, and one code must update.
    job(name="gone", code_status=CodeStatus.DECLARED).save()
    command = [sys.executable, "-m", "django", "tablecron", "sync"]
    env = child_env()
    procs = [
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, outputs
    names = list(Job.objects.values_list("name", flat=True))
    assert sorted(names) == sorted([*DECLARED, "gone"])
    creates = sum(out.count("create ") for out, _err in outputs)
    assert creates == len(DECLARED)  # each row made by one process; the others saw it there
    gone = Job.objects.get(name="gone")
    assert (gone.enabled, gone.code_status) == (False, CodeStatus.REMOVED)
