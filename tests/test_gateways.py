"""Gateways to code (issue 20, item 1): never a task, whatever ALLOWED_TASKS says.

The documented escape hatch ``ALLOWED_TASKS = ["django.core.management.call_command"]``
let anyone who may edit jobs run any code: ``call_command("shell", command=...)``. The
API's and the admin's side of it are in their own tests (contrib/rest_framework/test_jobs.py,
admin/test_forms.py)."""

import functools
import os
import posix
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import override_settings

import tablecron
from tablecron.exceptions import GatewayTask, RefusedTask
from tablecron.executors.immediate import ImmediateExecutor
from tablecron.gateways import gateway_of
from tablecron.models import Job, JobRun
from tablecron.registry import tasks
from tablecron.scheduler import Scheduler
from tests.support.factories import job
from tests.support.scheduling import due
from tests.testapp import tablecron_jobs

CALL_COMMAND = "django.core.management.call_command"

# (dotted path, the gateway it is): aliases and re-exports are known by what they are.
GATEWAYS = [
    (CALL_COMMAND, CALL_COMMAND),
    ("django.test.testcases.call_command", CALL_COMMAND),  # a re-export
    ("django.core.management.execute_from_command_line", "django.core.management."),
    ("os.system", "os.system"),
    ("posix.system", "os.system"),  # the same object under its C module's name
    ("os.popen", "os.popen"),
    ("os.execv", "os.execv"),
    ("os.spawnlp", "os.spawnlp"),
    ("subprocess.run", "subprocess.run"),
    ("subprocess.Popen", "subprocess.Popen"),
    ("builtins.eval", "builtins.eval"),
    ("builtins.exec", "builtins.exec"),
    ("builtins.compile", "builtins.compile"),
    ("builtins.__import__", "builtins.__import__"),
    ("importlib.import_module", "importlib.import_module"),
    ("runpy.run_path", "runpy.run_path"),
    ("pickle.loads", "_pickle.loads"),
    ("code.interact", "code.interact"),
    ("pty.spawn", "pty.spawn"),
    ("timeit.timeit", "timeit.timeit"),
    ("logging.config.dictConfig", "logging.config.dictConfig"),
    ("django.utils.module_loading.import_string", "django.utils.module_loading.import_string"),
    ("asyncio.create_subprocess_shell", "asyncio."),
]


@pytest.mark.parametrize(("path", "gateway"), GATEWAYS)
def test_gateways_are_known_by_what_they_are(path: str, gateway: str) -> None:
    from django.utils.module_loading import import_string

    found = gateway_of(import_string(path), path)
    assert found is not None
    assert found.startswith(gateway), found


@pytest.mark.parametrize(
    "target",
    [
        functools.partial(call_command, "shell"),
        functools.wraps(os.system)(lambda command: 0),  # a decorator's wrapper
        subprocess.Popen.__init__,
    ],
)
def test_wrappers_of_gateways_are_gateways(target: Any) -> None:
    assert gateway_of(target) is not None


def test_ordinary_functions_are_not_gateways() -> None:
    for target in (tablecron_jobs.add, os.path.join, Path.exists, tablecron.register, max):
        expected = "builtins.max" if target is max else None
        assert gateway_of(target) == expected


def test_a_projects_app_named_like_a_gateway_module_is_not_one() -> None:
    def refresh() -> None: ...

    for app in ("profile", "code", "site", "trace"):  # stdlib modules, not packages
        refresh.__module__ = f"{app}.tablecron_jobs"
        assert gateway_of(refresh, f"{app}.tablecron_jobs.refresh") is None
    refresh.__module__ = "django.core.management.commands.mine"  # in a listed package
    assert gateway_of(refresh) == f"django.core.management.commands.mine.{refresh.__qualname__}"


def test_a_gateway_cannot_be_registered() -> None:
    with pytest.raises(GatewayTask, match=r"'subprocess\.run' is subprocess\.run"):
        tablecron.register(subprocess.run)
    with pytest.raises(GatewayTask, match=r"os\.system"):
        tablecron.register(name="sh")(posix.system)
    assert "subprocess.run" not in tasks
    assert "sh" not in tasks


@override_settings(TABLECRON={"ALLOWED_TASKS": [CALL_COMMAND, "posix.system"]})
def test_a_gateway_in_allowed_tasks_is_refused_even_with_its_check_silenced() -> None:
    for name, gateway in [(CALL_COMMAND, CALL_COMMAND), ("posix.system", "os.system")]:
        with pytest.raises(RefusedTask) as refused:
            tasks.get(name)
        assert refused.value.gateway == gateway
        assert name not in tasks
        assert name not in [task.name for task in tasks]


def exploit(path: Path) -> dict[str, Any]:
    """The issue's job: a shell command through call_command("shell"), here harmless."""
    return {
        "task": CALL_COMMAND,
        "args": ["shell"],
        "kwargs": {"command": f"open({str(path)!r}, 'w').write('pwned')"},
        "cron": "",
    }


@override_settings(TABLECRON={"ALLOWED_TASKS": [CALL_COMMAND]})
@pytest.mark.django_db
def test_the_orm_refuses_the_issues_job_with_a_field_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        job(**exploit(tmp_path / "pwned.txt")).full_clean()
    (message,) = caught.value.message_dict["task"]
    assert f"“{CALL_COMMAND}” runs whatever code or command its arguments name" in message
    assert not Job.objects.exists()


@override_settings(TABLECRON={"ALLOWED_TASKS": [CALL_COMMAND]})
@pytest.mark.django_db(transaction=True)
def test_a_scheduler_never_runs_a_gateway_written_past_validation(tmp_path: Path) -> None:
    pwned = tmp_path / "pwned.txt"
    row = due(Job.objects.create(name="pwn", **exploit(pwned)))
    row.run_now()
    scheduler = Scheduler(ImmediateExecutor())
    scheduler.start()
    for _ in range(3):
        scheduler.run_once()
    (manual,) = JobRun.objects.all()  # the due fire was left alone, as an unknown task's
    assert (manual.trigger, manual.status) == ("manual", "failed")
    assert "a gateway to code: never run" in manual.error
    forced = scheduler.execute_now(row)  # "manage.py tablecron run pwn"
    assert forced.status == "failed"
    assert f"{CALL_COMMAND!r} is {CALL_COMMAND}, a gateway to code" in forced.error
    assert not pwned.exists()
