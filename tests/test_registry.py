"""What may be scheduled: the registry, discovery, ALLOWED_TASKS, async and Django Tasks."""

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

import tablecron
from tablecron.exceptions import TaskAlreadyRegistered, UnknownTask
from tablecron.models import Job
from tablecron.registry import TaskRegistry, tasks
from tests.testapp import tablecron_jobs

NOT_JSON = object()


def test_tasks_are_registered_under_their_dotted_path() -> None:
    registered = tasks.get("tests.testapp.tablecron_jobs.add")
    assert registered.func is tablecron_jobs.add
    assert registered.description == "Add two numbers."
    assert str(registered.signature) == "(a: int, b: int = 0) -> int"


DISCOVERY = """
import django
from django.conf import settings
settings.configure(INSTALLED_APPS=["tablecron", "otherapp"], USE_TZ=True)
django.setup()
from tablecron.registry import tasks
print(*(task.name for task in tasks))
"""


def test_setup_imports_each_apps_tablecron_jobs_and_not_its_jobs(tmp_path: Path) -> None:
    # A project and a process of their own: this module registers tasks by importing them.
    app = tmp_path / "otherapp"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "tablecron_jobs.py").write_text(
        "import tablecron\n\n@tablecron.register\ndef tidy() -> None: ...\n"
    )
    # Where django-extensions keeps its jobs: not tablecron's to import.
    (app / "jobs.py").write_text("raise RuntimeError('tablecron imported otherapp.jobs')\n")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    setup = subprocess.run(
        [sys.executable, "-c", DISCOVERY],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert setup.returncode == 0, setup.stderr
    assert setup.stdout.split() == ["otherapp.tablecron_jobs.tidy"]


def test_register_with_name_and_description() -> None:
    registered = tasks.get("testapp.greet")
    assert registered.func is tablecron_jobs.greet
    assert registered.description == "Say hello."
    assert "tests.testapp.tablecron_jobs.greet" not in tasks


def test_register_returns_the_function_unchanged() -> None:
    assert tablecron_jobs.add(1, 2) == 3


def test_async_functions() -> None:
    assert tasks.get("tests.testapp.tablecron_jobs.async_noop").is_async
    assert not tasks.get("tests.testapp.tablecron_jobs.add").is_async


def test_django_tasks_register_as_tasks() -> None:
    registered = tasks.get("tests.testapp.tablecron_jobs.send_digest")
    assert registered.is_django_task
    assert registered.target is tablecron_jobs.send_digest
    assert registered.description == "Send the weekly digest (a Django Task)."
    assert list(registered.signature.parameters) == ["user_id", "full"]
    with pytest.raises(ValidationError) as caught:
        registered.check_arguments([], {"full": True})
    assert "missing a required argument: 'user_id'" in caught.value.message_dict["kwargs"][0]


def test_a_second_function_under_a_taken_name_is_refused() -> None:
    registry = TaskRegistry()
    registry.add(tablecron_jobs.add, name="x")
    registry.add(tablecron_jobs.add, name="x")  # the same function again (a re-import) is fine
    with pytest.raises(TaskAlreadyRegistered, match="Give one of them another name"):
        registry.add(tablecron_jobs.greet, name="x")


def test_only_callables_register() -> None:
    with pytest.raises(TypeError):
        TaskRegistry().add("tests.testapp.tablecron_jobs.add")


def test_registry_iterates_sorted() -> None:
    names = [task.name for task in tasks]
    assert names == sorted(names)
    assert "tests.testapp.tablecron_jobs.add" in names


def test_unknown_names_raise() -> None:
    with pytest.raises(UnknownTask):
        tasks.get("os.system")
    assert "os.system" not in tasks
    assert None not in tasks


@override_settings(TABLECRON={"ALLOWED_TASKS": ["tests.testapp.tablecron_jobs.not_registered"]})
@pytest.mark.django_db
def test_allowed_tasks_setting_admits_undecorated_functions() -> None:
    try:
        assert "tests.testapp.tablecron_jobs.not_registered" in tasks
        assert (
            tasks.get("tests.testapp.tablecron_jobs.not_registered").func
            is tablecron_jobs.not_registered
        )
        job = Job(
            name="a", task="tests.testapp.tablecron_jobs.not_registered", args=[1], cron="@daily"
        )
        job.full_clean()
    finally:
        tasks.remove("tests.testapp.tablecron_jobs.not_registered")


def test_decorator_without_and_with_arguments_on_a_fresh_function() -> None:
    def local(x: int) -> int:
        return x

    try:
        assert tablecron.register(local) is local
        assert tablecron.register(name="local.named")(local) is local
        assert tasks.get(f"{__name__}.{local.__qualname__}").func is local
        assert tasks.get("local.named").signature == inspect.signature(local)
    finally:
        tasks.remove(f"{__name__}.{local.__qualname__}")
        tasks.remove("local.named")


@pytest.mark.django_db
def test_a_row_with_an_unknown_task_is_reported_not_crashed_on() -> None:
    job = Job.objects.create(name="old", task=tablecron.__name__ + ".removed", cron="@daily")
    job.refresh_from_db()
    assert job.registered_task is None
    assert job.next_run_at is not None  # the table still shows when it was meant to run
    assert len(job.upcoming(3)) == 3
    job.pause()
    job.resume()
    with pytest.raises(ValidationError) as caught:
        job.full_clean()
    assert "not a registered task" in caught.value.message_dict["task"][0]


def test_parameters_describe_a_form() -> None:
    described = [vars(p) for p in tasks.get("tests.testapp.tablecron_jobs.typed").parameters()]
    assert described == [
        {
            "name": "days",
            "kind": "positional_or_keyword",
            "required": True,
            "default": None,
            "annotation": "int",
            "json_types": ("integer",),
        },
        {
            "name": "ratio",
            "kind": "positional_or_keyword",
            "required": False,
            "default": 1.0,
            "annotation": "float",
            "json_types": ("number",),
        },
        {
            "name": "tags",
            "kind": "positional_or_keyword",
            "required": False,
            "default": None,
            "annotation": "list[str] | None",
            "json_types": ("array", "null"),
        },
        {
            "name": "options",
            "kind": "positional_or_keyword",
            "required": False,
            "default": None,
            "annotation": "dict[str, Any] | None",
            "json_types": ("object", "null"),
        },
        {
            "name": "when",
            "kind": "positional_or_keyword",
            "required": False,
            "default": None,
            "annotation": "Any",
            "json_types": (),
        },
    ]


def test_parameters_keyword_only_variadic_and_unannotated() -> None:
    greet = tasks.get("testapp.greet").parameters()
    assert [(p.name, p.kind, p.required, p.default) for p in greet] == [
        ("who", "keyword_only", True, None),
        ("punctuation", "keyword_only", False, "!"),
    ]
    (options,) = tasks.get("tests.testapp.tablecron_jobs.async_noop").parameters()
    assert (options.kind, options.required) == ("var_keyword", False)

    def untyped(a, b=NOT_JSON, *rest):  # type: ignore[no-untyped-def]
        """No annotations, and a default JSON cannot hold."""

    params = TaskRegistry().add(untyped, name="untyped").parameters()
    assert [(p.name, p.required, p.default, p.annotation, p.json_types) for p in params] == [
        ("a", True, None, "", ()),
        ("b", False, None, "", ()),
        ("rest", False, None, "", ()),
    ]
    assert params[2].kind == "var_positional"
