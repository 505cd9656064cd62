"""Settings of the comparison bench's own Django project (bench/compare/).

The bench driver (compare.py) sets the BENCH_* variables for every process it starts.
"""

import importlib.util
import os

BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "bench_compare")
BENCH_REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "13"))
# "celery" in the Celery workers and the tablecron-through-Celery scheduler;
# "django_tasks" in the db_worker processes and the scheduler that enqueues to them;
# "thread" (the default executor, TABLECRON = {}) in the thread-executor phase.
BENCH_EXECUTOR = os.environ.get("BENCH_EXECUTOR", "thread")

SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "tablecron",
    "django_celery_beat",
    "django_apscheduler",
    "benchapp",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "127.0.0.1",
        "PORT": "5432",
        "USER": "postgres",
        "NAME": BENCH_DATABASE,
        # Persistent connections, as long-running processes are given: with Django's
        # default (0) every Celery task that touches the database connects anew, and
        # celery beat reconnects on every tick.
        "CONN_MAX_AGE": int(os.environ.get("BENCH_CONN_MAX_AGE", "60")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TABLECRON = {
    "celery": {
        "EXECUTOR": "celery",
        # compare.py --celery-runs-per-message
        "CELERY_RUNS_PER_MESSAGE": int(os.environ.get("BENCH_CELERY_RUNS_PER_MESSAGE", "1")),
    },
    "django_tasks": {"EXECUTOR": "django_tasks", "TASKS_BACKEND": "default"},
}.get(BENCH_EXECUTOR, {})
# Django Tasks through django-tasks-db's db_worker (its queue in the bench's database),
# where it is installed (bench/compare/setup.sh installs it).
if importlib.util.find_spec("django_tasks_db") is not None:
    INSTALLED_APPS.append("django_tasks_db")
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}

CELERY_BROKER_URL = f"redis://127.0.0.1:6379/{BENCH_REDIS_DB}"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery closes database connections around every task, whatever CONN_MAX_AGE says,
# unless this is set (docs/executors.md).
CELERY_DB_REUSE_MAX = 1000

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(process)d %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        "tablecron": {"level": "INFO"},
        "apscheduler": {"level": "INFO"},
    },
}
