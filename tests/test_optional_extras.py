"""The core needs none of the optional extras (api, celery, django-tasks, metrics, peers):
every core module imports, and checks pass, without them."""

import subprocess
import sys
import textwrap

from tests.support import ROOT

# Run in a fresh interpreter where importing the extras' packages fails, as it does
# where they are not installed, whatever this environment holds.
SCRIPT = textwrap.dedent(
    """
    import importlib, pkgutil, sys

    BLOCKED = {
        "rest_framework", "django_filters", "drf_spectacular",  # api
        "celery", "kombu", "redis",  # celery
        "django_tasks_db",  # django_tasks
        "apscheduler", "django_apscheduler", "django_celery_beat",  # peers (import)
        "prometheus_client",  # metrics
    }

    class Uninstalled:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    sys.meta_path.insert(0, Uninstalled())

    import django
    from django.conf import settings

    contrib = ["admin", "auth", "contenttypes", "sessions", "messages"]
    settings.configure(
        INSTALLED_APPS=[*(f"django.contrib.{app}" for app in contrib), "tablecron"],
        DATABASES={"default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": ":memory:",
            "OPTIONS": {"transaction_mode": "IMMEDIATE"},
        }},
        USE_TZ=True,
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]},
        }],
    )
    django.setup()

    import tablecron
    skipped = (  # the extras' own modules
        "tablecron.migrations.",
        "tablecron.contrib.rest_framework",
        "tablecron.executors.celery",
        "tablecron.tasks",
        "tablecron.executors.django_tasks",
        "tablecron.imports.apscheduler",
        "tablecron.imports.celery_beat",
        "tablecron.contrib.prometheus",
    )
    for module in pkgutil.walk_packages(tablecron.__path__, "tablecron."):
        if not module.name.startswith(skipped):
            importlib.import_module(module.name)
    from django.core.management import call_command

    call_command("check")
    assert not BLOCKED & set(sys.modules), BLOCKED & set(sys.modules)
    try:
        importlib.import_module("tablecron.contrib.rest_framework.views")
    except ModuleNotFoundError as exc:
        print("api unavailable:", exc.name in BLOCKED)
    from tablecron import metrics

    print("counts nothing:", type(metrics.recorder) is metrics.Recorder)
    """
)


def test_the_core_imports_and_checks_without_the_optional_extras() -> None:
    finished = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    # The blocker works: the API itself cannot be imported there.
    assert "api unavailable: True" in finished.stdout
    assert "counts nothing: True" in finished.stdout  # no Prometheus counters without it
