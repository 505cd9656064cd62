"""Importing APScheduler 3 jobs: django-apscheduler's real ``DjangoJob`` rows (written by its
own job store), a hand-rolled table of trigger keyword arguments, and JSON and CSV files;
the imported jobs' fire times against the triggers' own ``get_next_fire_time()``."""

import csv
import json
import os
import pickle
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps

if not apps.is_installed("django_apscheduler"):  # see PEERS in tests/settings.py
    pytest.skip("django-apscheduler is not installed (the peers extra)", allow_module_level=True)

from apscheduler.job import Job as APSJob
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from django.core.management import CommandError, call_command
from django_apscheduler.jobstores import DjangoJobStore
from django_apscheduler.models import DjangoJob

from tablecron.imports import Outcome, create
from tablecron.imports.sources import read
from tablecron.models import Job
from tests.support.peers import (
    DST_WINDOWS,
    apscheduler_fires,
    fire_differences,
    tablecron_fires,
)
from tests.testapp.models import ScheduledJob

pytestmark = pytest.mark.django_db
ADD_REF = "tests.testapp.tablecron_jobs:add"
START = datetime(2026, 2, 27, 6, 0, 3, tzinfo=UTC)
# Triggers that tablecron can express, each fired beside APScheduler over both windows.
TRIGGERS = {
    "office-hours": CronTrigger(
        day_of_week="mon-fri", hour="9-17", minute="*/20", timezone="Europe/Berlin"
    ),
    "weekends": CronTrigger(day_of_week="sat,sun", hour=7, timezone="America/New_York"),
    # APScheduler reads crontab's weekday 0 as Monday: the import keeps its Monday.
    "from-crontab-sunday": CronTrigger.from_crontab("0 0 * * 0", timezone="UTC"),
    "every-30-s": CronTrigger(second="*/30", minute="0-5", hour=12, timezone="Asia/Tokyo"),
    "in-the-gap": CronTrigger(hour=2, minute=30, timezone="Europe/Berlin"),
    "hourly-ny": CronTrigger(minute=0, timezone="America/New_York"),
    "quarterly": CronTrigger(month="1-12/3", day=1, hour=6, timezone="Europe/Paris"),
    "every-2-h": IntervalTrigger(hours=2, start_date=START, timezone="UTC"),
}


def store_jobs(**triggers: Any) -> None:
    """Write jobs through django-apscheduler's own job store, as its scheduler does."""
    scheduler = BackgroundScheduler(timezone="UTC")
    store = DjangoJobStore()
    for name, trigger in triggers.items():
        options = {"args": (1,), "kwargs": {"b": 2}, "next_run_time": START}
        if isinstance(trigger, tuple):
            trigger, options = trigger[0], {**options, **trigger[1]}
        job = APSJob(
            scheduler,
            id=name,
            func=options.pop("func", ADD_REF),
            trigger=trigger,
            executor="default",
            name=f"the {name} job",
            misfire_grace_time=options.pop("misfire_grace_time", 30),
            coalesce=True,
            max_instances=options.pop("max_instances", 1),
            **options,
        )
        store.add_job(job)


def imported(source: str) -> dict[str, Outcome]:
    return {outcome.name: outcome for outcome in create(read(source))}


def test_django_apscheduler_jobs_fire_when_apscheduler_fires_them() -> None:
    store_jobs(**TRIGGERS, paused=(TRIGGERS["hourly-ny"], {"next_run_time": None}))
    outcomes = imported("django-apscheduler")
    assert all(outcome.created for outcome in outcomes.values()), outcomes
    crons = {name: Job.objects.get(name=name).cron for name in TRIGGERS}
    assert crons["office-hours"] == "*/20 9-17 * * 1-5"
    assert crons["weekends"] == "0 7 * * 0,6"
    assert crons["from-crontab-sunday"] == "0 0 * * 1"
    assert crons["every-30-s"] == "*/30 0-5 12 * * *"
    assert crons["quarterly"] == "0 6 1 */3 *"
    job = Job.objects.get(name="office-hours")
    assert (job.task, job.args, job.kwargs, job.description) == (
        "tests.testapp.tablecron_jobs.add",
        [1],
        {"b": 2},
        "the office-hours job",
    )
    assert (job.misfire_grace, job.coalesce, job.max_instances) == (timedelta(seconds=30), True, 1)
    assert not Job.objects.get(name="paused").enabled

    differences, compared = fire_differences(
        TRIGGERS, lambda name, start, end: apscheduler_fires(TRIGGERS[name], start, end)
    )
    assert compared > 3500
    # Where a DST change skips 02:30, APScheduler fires at 03:30 and tablecron at 03:00
    # (Debian cron's rule); where 02:30 comes twice, APScheduler fires twice and tablecron
    # once. Documented in migrating.md.
    assert differences == {
        ("in-the-gap", 3): (
            [datetime(2026, 3, 29, 1, 30, tzinfo=UTC)],
            [datetime(2026, 3, 29, 1, 0, tzinfo=UTC)],
        ),
        ("in-the-gap", 10): ([datetime(2026, 10, 25, 1, 30, tzinfo=UTC)], []),
    }


class Reduced:
    """What a pickle crafted to run code holds: a call, on loading."""

    def __init__(self, *call: Any) -> None:
        self.call = call

    def __reduce__(self) -> Any:
        return self.call


def test_a_pickle_that_would_run_code_is_refused_unrun() -> None:
    rows = {
        "shell": Reduced(os.system, ("touch pwned",)),
        "climb": Reduced(getattr, (datetime, "__subclasses__")),
        "damaged": b"not a pickle",
    }
    for name, state in rows.items():
        data = state if isinstance(state, bytes) else pickle.dumps(state)
        DjangoJob.objects.create(id=name, job_state=data)
    # Named as a model: any table of pickled job states (a job_state field) reads so.
    reasons = {name: o.detail for name, o in imported("django_apscheduler.DjangoJob").items()}
    assert reasons["shell"] == (
        f"its pickled state holds a {os.system.__module__}.system; only JSON arguments can be "
        "imported"
    )
    assert reasons["climb"] == "its pickled state reaches for __subclasses__"
    assert reasons["damaged"].startswith("its pickled state cannot be read (UnpicklingError(")
    assert not Path("pwned").exists()


def test_what_cannot_be_expressed_is_refused_with_a_reason() -> None:
    store_jobs(
        last_friday=CronTrigger(day="last fri", hour=5),
        week_two=CronTrigger(week=2, hour=5),
        first_monday=CronTrigger(day="1-7", day_of_week="mon", hour=5),
        either=OrTrigger([CronTrigger(hour=5), CronTrigger(hour=6)]),
        money=(CronTrigger(hour=5), {"args": (Decimal("1.5"),)}),
        unregistered=(CronTrigger(hour=5), {"func": "json:dumps", "args": ([],)}),
    )
    reasons = {name: o.detail for name, o in imported("django-apscheduler").items()}
    assert reasons == {
        "last_friday": "its cron trigger's day=last fri has no cron equivalent",
        "week_two": "its cron trigger sets week; a cron expression has no week",
        "first_monday": "it runs on days that are both day 1-7 of the month and weekday 1; a "
        "cron expression runs on days that are either",
        "either": "a OrTrigger; tablecron reads cron, interval and date",
        "money": "its pickled state holds a decimal.Decimal; only JSON arguments can be imported",
        "unregistered": reasons["unregistered"],
    }
    assert reasons["unregistered"].startswith("task: “json.dumps” is not a registered task.")
    assert not Job.objects.exists()


ROWS: list[dict[str, Any]] = [
    {
        "name": "report",
        "func": ADD_REF,
        "trigger": "cron",
        "trigger_args": {"day_of_week": "mon", "hour": 3, "timezone": "Asia/Shanghai"},
        "args": [1],
    },
    {
        "name": "poll",
        "func": ADD_REF,
        "trigger": "interval",
        "trigger_args": {"minutes": 5},
        "args": [2],
        "enabled": False,
    },
    {
        "name": "launch",
        "func": "testapp.greet",
        "trigger": "date",
        "trigger_args": {"run_date": "2030-05-01T12:00:00+00:00"},
        "kwargs": {"who": "you"},
    },
    {"name": "yearly", "func": ADD_REF, "trigger": "cron", "trigger_args": {"year": 2031}},
    {"name": "weird", "func": ADD_REF, "trigger": "calendarinterval"},
]


def check_rows(outcomes: dict[str, Outcome]) -> None:
    assert {name: o.created for name, o in outcomes.items()} == {
        "report": True,
        "poll": True,
        "launch": True,
        "yearly": False,
        "weird": False,
    }
    assert outcomes["report"].detail == "cron '0 3 * * 1' in Asia/Shanghai"
    assert outcomes["yearly"].detail == "its cron trigger sets year; a cron expression has no year"
    assert (
        outcomes["weird"].detail == "trigger 'calendarinterval' is not one of cron, interval, date"
    )
    poll = Job.objects.get(name="poll")
    assert (poll.interval, poll.enabled) == (timedelta(minutes=5), False)
    launch = Job.objects.get(name="launch")
    assert (launch.run_at, launch.kwargs) == (datetime(2030, 5, 1, 12, tzinfo=UTC), {"who": "you"})
    trigger = CronTrigger(day_of_week="mon", hour=3, timezone="Asia/Shanghai")
    end = DST_WINDOWS[0][0] + timedelta(days=120)
    fires = tablecron_fires(Job.objects.get(name="report"), DST_WINDOWS[0][0], end)
    assert fires == apscheduler_fires(trigger, DST_WINDOWS[0][0], end)


def test_a_hand_rolled_table_of_trigger_arguments() -> None:
    for row in ROWS:
        ScheduledJob.objects.create(**row)
    check_rows(imported("testapp.ScheduledJob"))


def test_json_and_csv_files(tmp_path: Path) -> None:
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(ROWS))
    check_rows(imported(str(path)))

    Job.objects.all().delete()
    flat = StringIO()
    columns = [
        "name",
        "func",
        "trigger",
        "args",
        "kwargs",
        "enabled",
        "day_of_week",
        "hour",
        "timezone",
        "minutes",
        "run_date",
        "year",
    ]
    writer = csv.DictWriter(flat, columns, extrasaction="ignore")
    writer.writeheader()
    for row in ROWS:  # the trigger's arguments as columns of their own, JSON as text
        cells = {**row, **row.get("trigger_args", {})}
        cells.update({k: json.dumps(cells[k]) for k in ("args", "kwargs") if k in cells})
        writer.writerow(cells)
    path = tmp_path / "jobs.csv"
    path.write_text(flat.getvalue())
    check_rows(imported(str(path)))


def test_the_command_reports_each_row_and_a_dry_run_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(ROWS))
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="2 row") as raised:
        call_command("tablecron", "import", str(path), "--dry-run", stdout=out, stderr=err)
    assert raised.value.returncode == 1
    assert "would create  report  (jobs.json row 1): cron '0 3 * * 1' in Asia/Shanghai" in (
        out.getvalue()
    )
    assert "refused       weird  (jobs.json row 5): trigger 'calendarinterval'" in err.getvalue()
    assert "5 row(s): 3 would be created, 2 refused." in out.getvalue()
    assert not Job.objects.exists()

    path.write_text(json.dumps([{**ROWS[0], "func": "reports:weekly"}]))
    out = StringIO()
    call_command(
        "tablecron",
        "import",
        str(path),
        "--task",
        f"reports.weekly={ADD_REF.replace(':', '.')}",
        stdout=out,
    )
    assert "created       report" in out.getvalue()
    assert Job.objects.get(name="report").task == "tests.testapp.tablecron_jobs.add"

    for source, message in [
        ("nowhere.json", "Cannot read nowhere.json"),
        ("no.Such", "'no.Such' is not a source"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command("tablecron", "import", source)
    with pytest.raises(CommandError, match="--task takes OLD=NEW"):
        call_command("tablecron", "import", str(path), "--task", "x")
