"""Test settings: the database is chosen by TABLECRON_TEST_DB (sqlite, postgres, mariadb)."""

import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import django

# The example project's "demo" app is tested too (also when mypy's Django plugin loads this).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "example"))

DB = os.environ.get("TABLECRON_TEST_DB", "sqlite")
# Per test process, so that concurrent runs (and helpers) never share a database.
TEST_DATABASE = f"test_tablecron_{os.getpid()}"
SQLITE_FILE = os.path.join(tempfile.gettempdir(), f"tablecron-test-{os.getpid()}.sqlite3")

DATABASES: dict[str, dict[str, Any]] = {
    "sqlite": {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            # A file, not :memory:, so threads and scheduler subprocesses share it.
            "NAME": os.environ.get("TABLECRON_DB_NAME", SQLITE_FILE),
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": SQLITE_FILE},
        }
    },
    "postgres": {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "NAME": os.environ.get("TABLECRON_DB_NAME", os.environ.get("PGDATABASE", "test")),
            "TEST": {"NAME": TEST_DATABASE},
        }
    },
    "mariadb": {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "HOST": os.environ.get("MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("MYSQL_PORT", "3306"),
            "USER": os.environ.get("MYSQL_USER", "root"),
            "PASSWORD": os.environ.get("MYSQL_PASSWORD", ""),
            "NAME": os.environ.get("TABLECRON_DB_NAME", os.environ.get("MYSQL_DATABASE", "test")),
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {
                "NAME": TEST_DATABASE,
                "CHARSET": "utf8mb4",
                "COLLATION": "utf8mb4_unicode_ci",
            },
        }
    },
}[DB]

# Worker processes of engines that close their connection after every task unless told
# otherwise (django-tasks-db's db_worker) keep it, as a deployment would.
DATABASES["default"]["CONN_MAX_AGE"] = float(os.environ.get("TABLECRON_TEST_CONN_MAX_AGE", "0"))
SECRET_KEY = "tests-only"
# test_web_workers.py requests pages from a real gunicorn on 127.0.0.1 (DEBUG is off).
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# Scheduler subprocesses started by the tests get their settings through the environment.
TABLECRON = json.loads(os.environ.get("TABLECRON_SETTINGS", "{}"))
# TABLECRON_TEST_SECOND_DB=1: tablecron's tables on a database of their own, "tablecron",
# where its router sends them; Django's own apps stay on "default".
if os.environ.get("TABLECRON_TEST_SECOND_DB") == "1":
    _second = SQLITE_FILE.replace(".sqlite3", "-2.sqlite3") if DB == "sqlite" else "test"
    DATABASES["tablecron"] = {
        **DATABASES["default"],
        "NAME": os.environ.get("TABLECRON_DB2_NAME", _second),
        "TEST": {**DATABASES["default"]["TEST"], "NAME": f"{TEST_DATABASE}_2"}
        if DB != "sqlite"
        else {"NAME": _second},
    }
    DATABASE_ROUTERS = ["tablecron.routers.TablecronRouter"]
    TABLECRON = {"DATABASE": "tablecron", **TABLECRON}
USE_TZ = True
TIME_ZONE = "Europe/Berlin"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "tablecron",
    "tests.testapp",
    "demo",  # the example project's app, from example/
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
ROOT_URLCONF = "tests.urls"
# tests/urls.py mounts the metrics view without a token, on a site only tests reach on
# 127.0.0.1 (its check is tested by calling it).
SILENCED_SYSTEM_CHECKS = ["tablecron.W009"]
STATIC_URL = "static/"  # pytest-django's live_server serves static files from here
# Tests sign users in by the hundred: a fast hash (Django's own is slow by design).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The REST API (the optional api extra) where it is installed; the core tests need none of it.
HAS_API = importlib.util.find_spec("rest_framework") is not None
if HAS_API:
    INSTALLED_APPS += ["rest_framework", "django_filters"]
    REST_FRAMEWORK = {
        # Basic first: an anonymous request is told to authenticate (401), as scripts are.
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "rest_framework.authentication.BasicAuthentication",
            "rest_framework.authentication.SessionAuthentication",
        ],
    }
# Prometheus metrics (the optional metrics extra) where prometheus_client is installed.
HAS_METRICS = importlib.util.find_spec("prometheus_client") is not None
# Notifications go to the SMTP server a test starts on 127.0.0.1 (tests/support/receivers.py);
# scheduler subprocesses are told its port through the environment.
_SMTP = {"host": "127.0.0.1", "port": int(os.environ.get("TABLECRON_TEST_SMTP_PORT", "25"))}
if django.VERSION >= (6, 1):  # the EMAIL_* settings are deprecated for MAILERS
    MAILERS = {"default": {"OPTIONS": _SMTP}}
else:
    EMAIL_HOST, EMAIL_PORT = _SMTP["host"], _SMTP["port"]
ADMINS: list[Any] = ["ops@example.com"] if django.VERSION >= (6,) else [("Ops", "ops@example.com")]
SERVER_EMAIL = "tablecron@example.com"
DEFAULT_FROM_EMAIL = "tablecron@example.com"
# Django Tasks: tasks run at once by default; the django_tasks executor's tests enqueue
# on django-tasks-db's database backend ("database", any queue), where it is installed.
_TASKS = "django.tasks" if django.VERSION >= (6,) else "django_tasks"
TASKS: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": f"{_TASKS}.backends.immediate.ImmediateBackend"}
}
if importlib.util.find_spec("django_tasks_db") is not None:
    INSTALLED_APPS += ["django_tasks_db"]
    TASKS["database"] = {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}
# django-tasks-rq ("rq", the rq extra): its "default" queue on the Redis server that
# tests/executors/test_rq.py starts of its own, whose URL it passes in TABLECRON_TEST_RQ_URL
# to the schedulers and "python -m django rqworker" processes.
if importlib.util.find_spec("django_tasks_rq") is not None:
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    TASKS["rq"] = {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}
    RQ_QUEUES = {
        "default": {"URL": os.environ.get("TABLECRON_TEST_RQ_URL", "redis://127.0.0.1:6379/15")}
    }
# The peers that "manage.py tablecron import" reads, where the peers extra is installed
# (scripts/setup.sh): their real tables, migrated, for tests/imports/. Not beside a second
# database: django-apscheduler's data migration 0005 reads "default" while it migrates
# the other one, and fails there.
PEERS = [
    app
    for app in ("django_celery_beat", "django_apscheduler")
    if importlib.util.find_spec(app) and "tablecron" not in DATABASES
]
INSTALLED_APPS += PEERS
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
