"""Each system check, by its ID: misconfiguration is named, with the fix in the hint."""

import importlib.util
from datetime import timedelta
from importlib.metadata import version
from typing import Any

import pytest
from django.conf import settings
from django.core.checks import CheckMessage
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from django.urls import include, path

from tablecron.checks import (
    check_code_jobs,
    check_cron_descriptor,
    check_isolation_level,
    check_metrics_exposure,
    check_settings,
    check_sqlite_transactions,
    check_unknown_tasks,
)
from tablecron.checks.deployment import _metrics_route
from tablecron.code_jobs import CodeJob, declared
from tablecron.models import Job


def ids(messages: list[CheckMessage]) -> list[str]:
    return [message.id for message in messages if message.id]


def check(**tablecron: Any) -> list[CheckMessage]:
    with override_settings(TABLECRON=tablecron):
        return check_settings(None)


def test_defaults_pass() -> None:
    assert check() == []


def test_every_valid_setting_passes() -> None:
    assert (
        check(
            SCHEDULER_IN_WEB_WORKERS=True,
            POLL_INTERVAL=timedelta(milliseconds=200),
            EXECUTOR="thread",
            MAX_WORKERS=4,
            HEARTBEAT_INTERVAL=5,
            LOST_AFTER=30.0,
            RUN_RETENTION=timedelta(days=7),
            FAILED_RUN_RETENTION=timedelta(days=30),
            RUNS_PER_JOB=1000,
            ALLOWED_TASKS=["tests.testapp.tablecron_jobs.not_registered"],
            MANAGEMENT_COMMANDS=["clearsessions", "tablecron"],
            WEBHOOK_ALLOWED_HOSTS=["hooks.internal", "10.0.0.5", "::1", "[::1]", "127.0.0.1"],
            ARGS_MAX_BYTES=1024,
            CONNECTION_RECYCLE=timedelta(minutes=5),
            NOTIFY_QUIET_PERIOD=timedelta(minutes=10),
            METRICS_ADDRESS="0.0.0.0",
            METRICS_TOKEN="secret",
        )
        == []
    )


@pytest.mark.parametrize(
    ("beat", "lost"), [(10, 15), (10, 10), (timedelta(seconds=30), 59.9), (None, 5)]
)
def test_e013_lost_after_shorter_than_two_heartbeats(beat: object, lost: float) -> None:
    values = (
        {"LOST_AFTER": lost} if beat is None else {"HEARTBEAT_INTERVAL": beat, "LOST_AFTER": lost}
    )
    (error,) = check(**values)
    assert error.id == "tablecron.E013"
    assert "LOST_AFTER" in error.msg
    assert "twice HEARTBEAT_INTERVAL" in error.msg
    assert check(HEARTBEAT_INTERVAL=0.5, LOST_AFTER=1) == []


@override_settings(USE_TZ=False)
def test_e001_use_tz_false() -> None:
    (error,) = check_settings(None)
    assert error.id == "tablecron.E001"
    assert error.hint == "Set USE_TZ = True in your settings."


@override_settings(TABLECRON=["POLL_INTERVAL", 1])
def test_e002_settings_not_a_dict() -> None:
    assert ids(check_settings(None)) == ["tablecron.E002"]


def test_w001_unknown_key_suggests_the_nearest() -> None:
    (warning,) = check(POLL_INTERVALL=1)
    assert warning.id == "tablecron.W001"
    assert "'POLL_INTERVALL'" in warning.msg
    assert warning.hint == "Did you mean 'POLL_INTERVAL'?"


def test_w001_unknown_key_without_a_near_one_lists_the_keys() -> None:
    (warning,) = check(COLOUR="blue")
    assert "SCHEDULER_IN_WEB_WORKERS" in str(warning.hint)


@pytest.mark.parametrize(
    ("old", "value", "new"),
    [
        ("EMBEDDED", True, "SCHEDULER_IN_WEB_WORKERS"),
        ("CONNECTION_MAX_AGE", 60, "CONNECTION_RECYCLE"),
    ],
)
def test_e007_a_renamed_key_is_an_error_naming_the_new_one(old: str, value: Any, new: str) -> None:
    (error,) = check(**{old: value})
    assert error.id == "tablecron.E007"
    assert f"TABLECRON[{old!r}]" in error.msg
    assert "does nothing" in error.msg
    assert error.hint == f"Rename TABLECRON[{old!r}] to TABLECRON[{new!r}]."
    assert error.is_serious()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("POLL_INTERVAL", "fast"),
        ("POLL_INTERVAL", 0),
        ("POLL_INTERVAL", -1),
        ("MAX_WORKERS", 2.5),
        ("MAX_WORKERS", True),
        ("SCHEDULER_IN_WEB_WORKERS", "yes"),
        ("CONNECTION_RECYCLE", 0),
        ("RUN_RETENTION", timedelta(0)),
        ("RUN_RETENTION", None),
        ("FAILED_RUN_RETENTION", -1),
        ("FAILED_RUN_RETENTION", "90 days"),
        ("RUNS_PER_JOB", 0),
        ("RUNS_PER_JOB", 2.5),
        ("RUNS_PER_JOB", True),
        ("ALLOWED_TASKS", "app.task"),
        ("ALLOWED_TASKS", [1]),
        ("MANAGEMENT_COMMANDS", "clearsessions"),
        ("MANAGEMENT_COMMANDS", [None]),
        ("WEBHOOK_ALLOWED_HOSTS", "hooks.internal"),
        ("EXECUTOR", None),
        ("ARGS_MAX_BYTES", "64k"),
        ("API_PERMISSION_CLASSES", "rest_framework.permissions.IsAdminUser"),
        ("API_PERMISSION_CLASSES", [None]),
        ("NOTIFY_QUIET_PERIOD", 0),
        ("METRICS_PORT", "9100"),
        ("METRICS_ADDRESS", None),
    ],
)
def test_e003_wrong_type_names_key_and_expected_type(key: str, value: Any) -> None:
    (error,) = check(**{key: value})
    assert error.id == "tablecron.E003"
    assert f"TABLECRON[{key!r}]" in error.msg
    assert "must be" in error.msg


def test_retention_left_unset_or_none_passes() -> None:
    assert check(FAILED_RUN_RETENTION=None, RUNS_PER_JOB=None) == []


def test_w005_failures_kept_shorter_than_successes() -> None:
    (warning,) = check(RUN_RETENTION=timedelta(days=30), FAILED_RUN_RETENTION=86400)
    assert warning.id == "tablecron.W005"
    assert "FAILED_RUN_RETENTION" in warning.msg
    assert "1 day" in warning.msg
    assert "at least RUN_RETENTION" in str(warning.hint)


def test_e004_executor_that_cannot_be_imported() -> None:
    (error,) = check(EXECUTOR="myproject.executors.Nope")
    assert error.id == "tablecron.E004"
    assert "'thread'" in str(error.hint)


def test_e004_not_an_executor() -> None:
    (error,) = check(EXECUTOR="tablecron.models.Job")
    assert error.id == "tablecron.E004"
    assert "not a subclass of tablecron.executors.Executor" in error.msg


def test_e004_executors_by_alias_and_path_pass() -> None:
    assert check(EXECUTOR="immediate") == []
    assert check(EXECUTOR="tablecron.executors.thread.ThreadExecutor") == []


@pytest.mark.parametrize(
    "path",
    [
        "tests.testapp.tablecron_jobs.missing",
        "no.such.module.func",
        "tests.testapp.tablecron_jobs.tablecron",
    ],
)
def test_e005_allowed_tasks_that_cannot_be_used(path: str) -> None:
    (error,) = check(ALLOWED_TASKS=[path])
    assert error.id == "tablecron.E005"
    assert repr(path) in error.msg


@pytest.mark.parametrize(
    ("path", "gateway"),
    [
        ("django.core.management.call_command", "django.core.management.call_command"),
        ("django.test.testcases.call_command", "django.core.management.call_command"),
        ("posix.system", "os.system"),
        ("subprocess.check_output", "subprocess.check_output"),
        ("builtins.exec", "builtins.exec"),
    ],
)
def test_e014_allowed_tasks_that_are_gateways_to_code(path: str, gateway: str) -> None:
    (error,) = check(ALLOWED_TASKS=["tests.testapp.tablecron_jobs.not_registered", path])
    assert error.id == "tablecron.E014"
    assert f"names {path!r}, which is {gateway}: it runs whatever code" in error.msg
    assert "@tablecron.register" in str(error.hint)
    assert "MANAGEMENT_COMMANDS" in str(error.hint)


def test_e015_management_commands_that_do_not_exist() -> None:
    (error,) = check(MANAGEMENT_COMMANDS=["clearsessions", "dumpdat"])
    assert error.id == "tablecron.E015"
    assert "'dumpdat', which is not a management command" in error.msg
    assert error.hint == "Did you mean 'dumpdata'?"


@pytest.mark.parametrize("name", ["shell", "dbshell"])
def test_e016_management_commands_that_run_code(name: str) -> None:
    (error,) = check(MANAGEMENT_COMMANDS=["check", name])
    assert error.id == "tablecron.E016"
    assert f"names {name!r}, which runs whatever code" in error.msg


@pytest.mark.parametrize(
    "host", ["https://hooks.internal", "hooks.internal:8080", "hooks.internal/x", "a b", ""]
)
def test_e017_webhook_allowed_hosts_that_are_not_hosts(host: str) -> None:
    (error,) = check(WEBHOOK_ALLOWED_HOSTS=["hooks.internal", host])
    assert error.id == "tablecron.E017"
    assert f"names {host!r}, which is not a host name" in error.msg


@pytest.mark.parametrize(
    "url",
    [
        "ops.example.com",  # no scheme
        "ftp://ops.example.com",
        "https://",
        "https://ops.example.com/?tab=runs",
        "https://ops.example.com/#runs",
        "https://ops.example.com:http/",
        "https://user:secret@ops.example.com",
        "https://ops example.com",
        "/admin/",
    ],
)
def test_e018_site_url_that_is_not_an_absolute_http_address(url: str) -> None:
    (error,) = check(SITE_URL=url)
    assert error.id == "tablecron.E018"
    assert f"= {url!r} is not the absolute http or https address" in error.msg


@pytest.mark.parametrize(
    "url", ["", "https://ops.example.com", "http://127.0.0.1:8000/", "https://intranet/tools"]
)
def test_site_urls_that_pass(url: str) -> None:
    assert check(SITE_URL=url) == []


@pytest.mark.parametrize("domain", ["ops@example.com", "https://example.com", "a b", ""])
def test_e019_notify_email_domains_that_are_not_domains(domain: str) -> None:
    (error,) = check(NOTIFY_EMAIL_DOMAINS=["example.com", domain])
    assert error.id == "tablecron.E019"
    assert f"names {domain!r}, which is not a domain" in error.msg


@pytest.mark.skipif(not settings.HAS_METRICS, reason="the metrics extra is not installed")
def test_w009_the_metrics_view_mounted_without_a_token() -> None:
    """Issue 20, item 9: tests/urls.py mounts the metrics view at tablecron/metrics."""
    (warning,) = check_metrics_exposure(None)
    assert warning.id == "tablecron.W009"
    assert "mounted at /tablecron/metrics without" in warning.msg
    with override_settings(TABLECRON={"METRICS_TOKEN": "s3cret"}):
        assert check_metrics_exposure(None) == []
    with override_settings(DEBUG=True):
        assert check_metrics_exposure(None) == []
    from tablecron.contrib.prometheus.views import metrics

    mounted = [path("api/", include([path("other", check_metrics_exposure)])), path("m", metrics)]
    assert _metrics_route(mounted, "") == "m"
    assert _metrics_route(mounted[:1], "") is None


class DuckPermission:
    """Shaped like a REST framework permission, so the check needs no DRF to accept it."""

    def has_permission(self, request: object, view: object) -> bool:
        return True


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("no.such.module.Permission", "cannot be imported"),
        ("tests.test_checks.Missing", "cannot be imported"),
        ("tablecron.models.Job", "is not a permission class"),
        ("tests.test_checks.check", "is not a permission class"),
    ],
)
def test_e006_api_permission_classes_that_cannot_be_used(path: str, problem: str) -> None:
    (error,) = check(API_PERMISSION_CLASSES=["tests.test_checks.DuckPermission", path])
    assert error.id == "tablecron.E006"
    assert repr(path) in error.msg
    assert problem in error.msg
    assert "rest_framework.permissions.IsAdminUser" in str(error.hint)


def test_e006_only_paths_set_by_hand_are_checked() -> None:
    # The default names the API's class, which needs DRF: a project without the API
    # must not be told to fix a setting it never wrote.
    assert check() == []
    assert check(API_PERMISSION_CLASSES=[]) == []
    assert check(API_PERMISSION_CLASSES=("tests.test_checks.DuckPermission",)) == []


def test_e006_the_default_permission_class_passes_when_drf_is_installed() -> None:
    pytest.importorskip("rest_framework")
    from tablecron.conf import DEFAULT_API_PERMISSION

    assert check(API_PERMISSION_CLASSES=[DEFAULT_API_PERMISSION]) == []


@pytest.mark.django_db
def test_w002_rows_with_unknown_tasks_are_reported_on_database_checks() -> None:
    Job.objects.create(name="old", task="removed.module.func", cron="@daily")
    Job.objects.create(name="ok", task="tests.testapp.tablecron_jobs.noop", cron="@daily")
    (warning,) = check_unknown_tasks(None, databases=["default"])
    assert warning.id == "tablecron.W002"
    assert "removed.module.func" in warning.msg
    assert "noop" not in warning.msg
    assert check_unknown_tasks(None, databases=None) == []


@pytest.mark.django_db
def test_checks_run_through_manage_py_check() -> None:
    with (
        override_settings(TABLECRON={"MAX_WORKERS": "ten"}),
        pytest.raises(SystemCheckError, match="E003"),
    ):
        call_command("check")


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_w003_sqlite_without_immediate_transactions() -> None:
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "x.sqlite3"}
    immediate = {**sqlite, "OPTIONS": {"transaction_mode": "IMMEDIATE"}}
    postgres = {"ENGINE": "django.db.backends.postgresql", "NAME": "x"}
    with override_settings(DATABASES={"default": sqlite, "other": immediate, "pg": postgres}):
        (warning,) = check_sqlite_transactions(None)
    assert warning.id == "tablecron.W003"
    assert "'default'" in warning.msg
    assert "IMMEDIATE" in str(warning.hint)


def test_the_celery_executor_needs_a_celery_app() -> None:
    celery = pytest.importorskip("celery")
    from celery import _state

    (warning,) = check(EXECUTOR="celery")  # this process has Celery's fallback app only
    assert warning.id == "tablecron.W004"
    assert "First steps with Django" in warning.hint
    fallback = _state.get_current_app()
    celery.Celery("proj")  # as proj/celery.py makes it: the current app
    try:
        assert check(EXECUTOR="celery") == []
    finally:
        fallback.set_current()


class ElsewhereRouter:
    """Sends every model to a database tablecron was not told about."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return "elsewhere"

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return "elsewhere"


def test_tablecrons_database_must_exist_and_be_where_routers_send_it() -> None:
    (error,) = check(DATABASE="nope")
    assert error.id == "tablecron.E008"
    with override_settings(DATABASE_ROUTERS=["tests.test_checks.ElsewhereRouter"]):
        (error,) = check()
    assert error.id == "tablecron.E009"
    assert "tablecron.routers.TablecronRouter" in error.hint


def test_e010_jobs_declared_in_code_that_sync_would_refuse() -> None:
    assert check_code_jobs(None) == []  # what tests/testapp declares is valid
    bad = {
        "bad-task": {"task": "no.such.task"},
        "bad-cron": {"task": "testapp.greet", "kwargs": {"who": "x"}, "cron": "0 25 * * *"},
        "bad-args": {"task": "testapp.greet", "kwargs": {"whom": "x"}},
    }
    try:
        for name, fields in bad.items():
            declared.add(CodeJob(name, fields))
        messages = {m.msg: m.id for m in check_code_jobs(None)}
    finally:
        for name in bad:
            declared.remove(name)
    assert set(messages.values()) == {"tablecron.E010"}
    assert set(messages) == {
        "The job 'bad-task' declared in code runs 'no.such.task', which is not a registered task.",
        "The job 'bad-cron' declared in code has an invalid cron: “0 25 * * *” is not a valid "
        "cron expression: bad hour.",
        "The job 'bad-args' declared in code has arguments that do not fit its task: These "
        "arguments do not fit testapp.greet(*, who: str, punctuation: str = '!') -> str: "
        "missing a required keyword-only argument: 'who'.",
    }


@pytest.mark.parametrize("port", [-1, 65536])
def test_e011_metrics_port_out_of_range(port: int) -> None:
    (error,) = check(METRICS_PORT=port)
    assert error.id == "tablecron.E011"
    assert error.hint == "Use a port from 1 to 65535, or 0 to serve no metrics."


def test_e012_metrics_port_without_prometheus_client() -> None:
    if importlib.util.find_spec("prometheus_client") is None:
        (error,) = check(METRICS_PORT=9100)
        assert error.id == "tablecron.E012"
        assert "django-tablecron[metrics]" in str(error.hint)
    else:  # with the extra installed, the same setting passes
        assert check(METRICS_PORT=9100) == []


def test_w011_cron_descriptor_1_says_what_it_lacks() -> None:
    """Only with cron-descriptor 1.x, which test_cron_descriptor_1.py installs."""
    installed = version("cron-descriptor")
    warnings = check_cron_descriptor(None)
    if int(installed.split(".")[0]) >= 2:
        assert warnings == []
        return
    (warning,) = warnings
    assert warning.id == "tablecron.W011"
    assert f"cron-descriptor {installed} is installed" in warning.msg
    assert "Traditional Chinese" in warning.msg
    assert "pip install 'cron-descriptor>=2.2'" in str(warning.hint)


@pytest.mark.django_db
def test_w010_a_calendar_without_data_for_the_coming_months() -> None:
    from datetime import date

    from tablecron.checks import CALENDAR_NOTICE, check_calendar_data
    from tablecron.models import Calendar
    from tablecron.workdays import data_until

    # Armenia's make-up days end in python-holidays with 2021; California's rules run on.
    Calendar.objects.create(name="yerevan", country="AM")
    Calendar.objects.create(name="plant", country="US-CA")
    for name, calendar in (("a", "yerevan"), ("b", "plant"), ("c", "CN"), ("d", "")):
        Job.objects.create(name=name, task="tests.testapp.tablecron_jobs.noop", cron="@daily",
                           calendar=calendar)  # fmt: skip
    Job.objects.create(name="paused", task="tests.testapp.tablecron_jobs.noop", cron="@daily",
                       calendar="AM", enabled=False)  # fmt: skip
    warnings = check_calendar_data(None, databases=["default"])
    assert {w.id for w in warnings} == {"tablecron.W010"}
    named = {w.msg.split("'")[1] for w in warnings}
    china_short = data_until("CN") < (date.today() + CALENDAR_NOTICE).year
    assert named == ({"yerevan", "CN"} if china_short else {"yerevan"})
    assert check_calendar_data(None, databases=None) == []


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_w012_a_snapshot_isolation_level() -> None:
    from django.db.backends.postgresql.psycopg_any import IsolationLevel

    def check_with(engine: str, **options: Any) -> list[str]:
        database = {"ENGINE": engine, "NAME": "x", "OPTIONS": options}
        with override_settings(DATABASES={"default": database}):
            return [message.id for message in check_isolation_level(None)]

    postgres, mysql = "django.db.backends.postgresql", "django.db.backends.mysql"
    assert check_with(postgres) == []
    assert check_with(postgres, isolation_level=IsolationLevel.READ_COMMITTED) == []
    assert check_with(postgres, isolation_level=IsolationLevel.REPEATABLE_READ) == [
        "tablecron.W012"
    ]
    assert check_with(postgres, isolation_level=IsolationLevel.SERIALIZABLE) == ["tablecron.W012"]
    assert check_with(mysql) == []
    assert check_with(mysql, isolation_level="read committed") == []
    assert check_with(mysql, isolation_level="REPEATABLE READ") == ["tablecron.W012"]
    assert check_with(mysql, isolation_level=None) == ["tablecron.W012"]  # the server's
    assert check_with("django.db.backends.sqlite3") == []
    with override_settings(TABLECRON={"DATABASE": "jobs"}):  # tablecron's alias only
        assert check_with(mysql, isolation_level=None) == []


def test_the_test_databases_pass_the_isolation_check() -> None:
    """The suite's own configuration, whatever TABLECRON_TEST_DB is."""
    assert check_isolation_level(None) == []
