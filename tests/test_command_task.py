"""The built-in task tablecron.management_command: only the commands of MANAGEMENT_COMMANDS,
never a shell, with arguments their own parser accepts; the output is the run's result."""

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.test import override_settings

from tablecron.command_task import TASK_NAME
from tablecron.executors.immediate import ImmediateExecutor
from tablecron.models import Job, JobRun
from tablecron.registry import tasks
from tablecron.scheduler import Scheduler
from tests.support.factories import job
from tests.support.scheduling import due

pytestmark = pytest.mark.django_db

COMMANDS = {"TABLECRON": {"MANAGEMENT_COMMANDS": ["dumpdata", "check", "shell"]}}


def command_job(*args: Any, **kwargs: Any) -> Job:
    return job(task=TASK_NAME, args=list(args), kwargs=kwargs)


def field_errors(candidate: Job) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        candidate.full_clean()
    return caught.value.message_dict


def test_it_is_a_task_only_while_the_setting_lists_commands() -> None:
    assert TASK_NAME not in tasks
    assert "not a registered task" in field_errors(command_job("check"))["task"][0]
    with override_settings(**COMMANDS):
        assert TASK_NAME in tasks
        assert TASK_NAME in [task.name for task in tasks]
        task = tasks.get(TASK_NAME)
        assert task.description.startswith("Run a management command listed in")
        assert [(p.name, p.kind) for p in task.parameters()] == [
            ("command", "positional_or_keyword"),
            ("args", "var_positional"),
            ("options", "var_keyword"),
        ]
    assert TASK_NAME not in tasks


@override_settings(**COMMANDS)
@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (["check"], {}),
        (["check", "--tag", "models", "--deploy"], {}),
        (["dumpdata", "auth.group", "--indent", 2], {}),
        (["dumpdata"], {"indent": 2, "verbosity": 0}),
        ([], {"command": "check"}),
    ],
)
def test_listed_commands_with_arguments_their_parser_accepts_are_valid(
    args: list[Any], kwargs: dict[str, Any]
) -> None:
    command_job(*args, **kwargs).full_clean()


@override_settings(**COMMANDS)
@pytest.mark.parametrize(
    ("args", "kwargs", "field", "words"),
    [
        (["migrate"], {}, "args", "“migrate” is not a management command that may be scheduled"),
        ([], {"command": "flush"}, "kwargs", "“flush” is not a management command that may be"),
        (["shell", "-c", "import os"], {}, "args", "“shell” runs whatever code its arguments"),
        (["check", "--nope"], {}, "args", "refuses these arguments: unrecognized arguments"),
        (["dumpdata", "--indent", "two"], {}, "args", "invalid int value: 'two'"),
        (["check"], {"bogus": 1}, "kwargs", "Unknown option(s) for check command: bogus"),
        (["check"], {"stdout": "/tmp/x"}, "kwargs", "The option stdout is not a job's to set"),
        (["check", "--settings", "evil"], {}, "args", "--settings is not a job's to set"),
        (["check", "--pythonpath=/tmp"], {}, "args", "--pythonpath is not a job's to set"),
        ([["check"]], {}, "args", "Argument “command” of tablecron.management_command must be"),
        ([], {}, "kwargs", "missing a required argument: 'command'"),
    ],
)
def test_what_may_not_be_run_is_a_field_error(
    args: list[Any], kwargs: dict[str, Any], field: str, words: str
) -> None:
    errors = field_errors(command_job(*args, **kwargs))
    assert list(errors) == [field], errors
    assert words in errors[field][0]


@override_settings(TABLECRON={"MANAGEMENT_COMMANDS": ["dumpdata", "tablecron"]})
@pytest.mark.django_db(transaction=True)
def test_a_scheduler_runs_it_and_keeps_the_output_as_the_result(tmp_path: Path) -> None:
    Group.objects.create(name="night-shift")
    due(Job.objects.create(name="dump", task=TASK_NAME, args=["dumpdata", "auth.group"]))
    pwned = tmp_path / "pwned.txt"
    # Written past validation (update() does not validate): refused before it runs.
    shell = Job.objects.create(name="shell", task=TASK_NAME, args=["dumpdata"])
    code = f"open({str(pwned)!r}, 'w').write('pwned')"
    Job.objects.filter(pk=shell.pk).update(args=["shell", "-c", code])
    shell.refresh_from_db()
    bad_option = Job.objects.create(name="bad", task=TASK_NAME, args=["tablecron", "list"])
    Job.objects.filter(pk=bad_option.pk).update(kwargs={"stdout": "x"})
    bad_option.refresh_from_db()
    for row in (shell, bad_option):
        due(row)
    scheduler = Scheduler(ImmediateExecutor())
    scheduler.start()
    scheduler.run_once()
    runs = {run.job_name: run for run in JobRun.objects.all()}
    assert runs["dump"].status == "succeeded", runs["dump"].error
    assert '"name": "night-shift"' in runs["dump"].result
    assert runs["shell"].status == "failed"
    assert "“shell” is not a management command that may be scheduled" in runs["shell"].error
    assert runs["bad"].status == "failed"
    assert "The option stdout is not a job's to set" in runs["bad"].error
    assert not pwned.exists()
