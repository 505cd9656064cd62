"""``manage.py tablecron`` and its subcommands, called as a person or a monitor would."""

import re
import subprocess
import sys
import threading
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tablecron.db import db_now
from tablecron.executors.immediate import ImmediateExecutor
from tablecron.management.commands.tablecron import SUBCOMMANDS, Command
from tablecron.models import Job, JobRun, SchedulerInstance
from tablecron.scheduler import Scheduler
from tests.support import ROOT
from tests.support.audit import trail
from tests.support.factories import ADD, T
from tests.support.processes import child_env, schedulers, wait_for
from tests.support.receivers import unanswering_webhook

pytestmark = pytest.mark.django_db(transaction=True)


def tablecron(*args: str) -> str:
    out = StringIO()
    call_command("tablecron", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_list_shows_schedule_and_next_run() -> None:
    Job.objects.create(name="nightly", task=ADD, args=[1], cron="0 3 * * *", timezone="UTC")
    Job.objects.create(
        name="paused", task=ADD, args=[1], interval=timedelta(minutes=5), enabled=False
    )
    Job.objects.create(name="by-hand", task=ADD, args=[1])
    lines = tablecron("list").splitlines()
    assert lines[0].split() == ["NAME", "TASK", "SCHEDULE", "NEXT", "RUN", "LAST", "STATUS"]
    by_name = {line.split()[0]: line for line in lines[1:]}
    assert "cron 0 3 * * * (UTC)" in by_name["nightly"]
    assert "03:00:00" in by_name["nightly"]
    assert "every 0:05:00" in by_name["paused"]
    assert "paused" in by_name["paused"].split("0:05:00")[1]
    assert "manual only" in by_name["by-hand"]


def test_run_runs_and_prints_the_result() -> None:
    job = Job.objects.create(name="sum", task=ADD, args=[2, 3])
    assert tablecron("run", "sum").strip() == "5"
    run = JobRun.objects.get(job=job)
    assert (run.trigger, run.status, run.result) == ("manual", "succeeded", 5)
    assert not SchedulerInstance.objects.exists()  # it deregistered


def test_run_of_a_failing_job_exits_non_zero() -> None:
    Job.objects.create(
        name="broken", task="tests.testapp.tablecron_jobs.fail", kwargs={"message": "no"}
    )
    with pytest.raises(CommandError, match="ended failed") as caught:
        tablecron("run", "broken")
    assert caught.value.returncode == 1
    assert "RuntimeError: no" in JobRun.objects.get().error


def test_run_of_an_unknown_job() -> None:
    with pytest.raises(CommandError, match="No job is named 'nope'"):
        tablecron("run", "nope")


def test_status_exits_non_zero_without_a_live_scheduler() -> None:
    with pytest.raises(CommandError, match="No live tablecron scheduler") as caught:
        tablecron("status")
    assert caught.value.returncode == 1
    old, now = db_now() - timedelta(minutes=10), db_now()
    SchedulerInstance.objects.create(pk="stale", host="h", pid=1, started_at=old, heartbeat_at=old)
    SchedulerInstance.objects.create(  # a worker alone claims nothing
        pk="celery@h:2:x", role="worker", host="h", pid=2, started_at=now, heartbeat_at=now
    )
    with pytest.raises(CommandError):
        tablecron("status")


def test_status_lists_live_schedulers() -> None:
    now = db_now()
    SchedulerInstance.objects.create(
        pk="web-1:42:abc", host="web-1", pid=42, started_at=now, heartbeat_at=now
    )
    out = tablecron("status")
    assert "web-1:42:abc" in out
    assert "1 live scheduler(s), 0 live worker(s)." in out


def test_status_answers_at_once_whatever_the_notification_receivers_do() -> None:
    # A failing job whose notification is due, to a webhook that never answers: the health
    # probe leaves it to the schedulers, and judges liveness at its own now.
    with unanswering_webhook() as (hook, url):
        Job.objects.create(
            name="broken", task=ADD, args=[1], notify=True, notify_webhook=url,
            last_status="failed",
        )  # fmt: skip
        now = db_now()
        SchedulerInstance.objects.create(pk="web-1:42:abc", host="web-1", pid=42,
                                         started_at=now, heartbeat_at=now)  # fmt: skip
        status = manage("tablecron", "status", timeout=15)
        assert status.returncode == 0, status.stderr
        # Never sent (not a duration, which a busy machine stretches: 5.9 s in a CI run).
        assert hook.attempts == 0
    (age,) = re.findall(r"last heartbeat (-?\d+) s ago", status.stdout)
    assert 0 <= int(age) < 60
    assert Job.objects.get().alert_state == "ok"  # still due, for a scheduler to tell


def manage(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``manage.py ARGS`` as a person types it, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        env=child_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_lists_the_subcommands_and_each_has_its_own(
    capsys: pytest.CaptureFixture[str],
) -> None:
    listed = manage("tablecron", "--help")
    assert listed.returncode == 0, listed.stderr
    assert "NAME" in manage("tablecron", "run", "--help").stdout
    parser = Command().create_parser("manage.py", "tablecron")  # the rest in this process
    for name, subcommand in SUBCOMMANDS.items():
        assert re.search(rf"^\s+{name}\s+\S", listed.stdout, re.MULTILINE), name
        with pytest.raises(SystemExit) as exited:
            parser.parse_args([name, "--help"])
        assert exited.value.code == 0
        own = capsys.readouterr().out
        assert re.match(rf"usage: manage.py tablecron {name} ", own), own
        assert (subcommand.description or subcommand.help)[:30] in " ".join(own.split())


def test_a_subcommand_is_required() -> None:
    with pytest.raises(CommandError, match="required: SUBCOMMAND"):
        tablecron()
    unknown = manage("tablecron", "runjob", "x")
    assert unknown.returncode == 2
    assert "invalid choice: 'runjob'" in unknown.stderr


@pytest.mark.parametrize("old", ["runscheduler", "listjobs", "runjob", "schedulerstatus"])
def test_the_old_command_names_are_gone(old: str) -> None:
    with pytest.raises(CommandError, match=f"Unknown command: '{old}'"):
        call_command(old)


@pytest.mark.parametrize(
    "argv",
    [
        ["scheduler", "-v", "2"],
        ["-v", "2", "scheduler"],
        ["run", "nightly", "--verbosity", "2", "--traceback"],
    ],
)
def test_django_options_go_before_or_after_the_subcommand(argv: list[str]) -> None:
    parser = Command().create_parser("manage.py", "tablecron")
    assert parser.parse_args(argv).verbosity == 2
    assert parser.parse_args(["scheduler"]).verbosity == 1


# Django's common options, each with what parse_args() makes of it.
COMMON_OPTIONS = {
    "--skip-checks": ("skip_checks", True),
    "--verbosity=2": ("verbosity", 2),
    "--settings=tests.settings": ("settings", "tests.settings"),
    "--pythonpath=example": ("pythonpath", "example"),
    "--traceback": ("traceback", True),
    "--no-color": ("no_color", True),
    "--force-color": ("force_color", True),
}
# What each requires.
OWN_ARGUMENTS = {"run": ["nightly"], "import": ["celery_beat"], "logs": ["7"], "cancel": ["7"]}


@pytest.mark.parametrize("option", COMMON_OPTIONS)
def test_every_django_option_goes_after_every_subcommand(option: str) -> None:
    parser = Command().create_parser("manage.py", "tablecron")
    dest, value = COMMON_OPTIONS[option]
    for name in SUBCOMMANDS:
        argv = [name, *OWN_ARGUMENTS.get(name, [])]
        assert getattr(parser.parse_args([*argv, option]), dest) == value, name
        assert getattr(parser.parse_args([option, *argv]), dest) == value, name


def test_skip_checks_after_the_subcommand_as_a_person_types_it() -> None:
    synced = manage("tablecron", "sync", "--dry-run", "--skip-checks")
    assert synced.returncode == 0, synced.stderr


# -- logs and cancel ----------------------------------------------------------------------


def tablecron_both(*args: str) -> tuple[str, str]:
    """``manage.py tablecron ARGS`` in this process: its stdout and stderr."""
    out, err = StringIO(), StringIO()
    call_command("tablecron", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def ended_run(task: str, *args: object) -> JobRun:
    job = Job.objects.create(name=f"{task}-{Job.objects.count()}", task=T + task, args=list(args))
    run = job.run_now()
    Scheduler(ImmediateExecutor()).run_once()
    run.refresh_from_db()
    assert run.finished_at is not None, run.status
    return run


def test_logs_prints_the_output_and_then_the_status() -> None:
    run = ended_run("chatty", "hi", 2)
    out, err = tablecron_both("logs", str(run.pk))
    assert out == run.output
    assert "stdout hi out 1" in out
    assert err.strip() == f"Run {run.pk} has ended: succeeded."
    failed = ended_run("fail", "no")
    out, err = tablecron_both("logs", str(failed.pk), "--follow")  # ended: returns at once
    assert (out, err.strip()) == ("", f"Run {failed.pk} has ended: failed.")


def test_logs_of_a_run_that_has_not_ended_says_so() -> None:
    waiting = Job.objects.create(name="sum", task=ADD, args=[1]).run_now()
    out, err = tablecron_both("logs", str(waiting.pk))
    assert out == ""
    assert err.strip() == f"Run {waiting.pk} has not ended (scheduled); --follow waits for it."


@pytest.mark.parametrize("subcommand", ["logs", "cancel"])
def test_an_unknown_run_exits_2(subcommand: str) -> None:
    with pytest.raises(CommandError, match=r"No run has the id 999999\.") as caught:
        tablecron(subcommand, "999999")
    assert caught.value.returncode == 2


def test_cancel_of_a_run_that_has_not_started_ends_it() -> None:
    waiting = Job.objects.create(name="sum", task=ADD, args=[1]).run_now()
    out, _ = tablecron_both("cancel", str(waiting.pk), "--by", "ops")
    assert out.strip() == f"Run {waiting.pk} (sum) had not started: cancelled."
    waiting.refresh_from_db()
    assert (waiting.status, waiting.error) == ("cancelled", "Cancelled by ops.")
    assert [(e["action"], e["via"], e["run"]) for e in trail()][-1] == (
        "cancel",
        "code",
        waiting.pk,
    )


def test_cancel_of_a_run_that_had_ended_exits_1_and_changes_nothing() -> None:
    run = ended_run("add", 1)
    before = JobRun.objects.values().get()
    with pytest.raises(CommandError) as caught:
        tablecron("cancel", str(run.pk))
    assert caught.value.returncode == 1
    assert str(caught.value) == f"Run {run.pk} had ended already (succeeded): nothing changed."
    assert JobRun.objects.values().get() == before


def test_cancel_twice_while_it_is_carried_out_exits_1_the_second_time() -> None:
    job = Job.objects.create(name="sum", task=ADD, args=[1])
    now = db_now()
    running = JobRun.objects.create(job=job, scheduled_for=now, status="running", started_at=now)
    out, _ = tablecron_both("cancel", str(running.pk))
    assert "is running: asked to stop" in out
    with pytest.raises(CommandError, match="being cancelled already") as caught:
        tablecron("cancel", str(running.pk))
    assert caught.value.returncode == 1


def test_logs_follows_a_run_of_a_real_scheduler_until_it_is_cancelled(tmp_path: Path) -> None:
    """``logs --follow`` in a process of its own prints a run's lines while a scheduler
    process runs it, and ``cancel`` in a third stops it; the follower then prints the
    rest and the status, and exits 0."""
    job = Job.objects.create(name="waits", task=T + "until_cancelled", args=[60])
    run = job.run_now()
    args = [sys.executable, "-m", "django", "tablecron", "logs", str(run.pk), "--follow"]
    popen = {"env": child_env(), "cwd": ROOT, "text": True}
    with (
        schedulers(1, tmp_path),
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen) as follower,  # type: ignore[call-overload]
    ):
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(follower.stdout))
        reader.start()
        try:
            wait_for(lambda: any("stdout started" in line for line in lines), 30, "output")
            assert JobRun.objects.get(pk=run.pk).status == "running"  # followed as it ran
            cancelled = manage("tablecron", "cancel", str(run.pk), "--by", "ops")
            assert cancelled.returncode == 0, cancelled.stderr
            assert "asked to stop" in cancelled.stdout
            assert follower.wait(timeout=30) == 0
            said = follower.stderr.read()
        finally:
            if follower.poll() is None:
                follower.kill()
            reader.join(10)
    run.refresh_from_db()
    assert (run.status, run.error) == ("cancelled", "Cancelled by ops.")
    assert "".join(lines) == run.output  # each line once, all of them
    assert lines[-1].endswith("stdout asked to stop\n")
    assert said.strip() == f"Run {run.pk} has ended: cancelled."
