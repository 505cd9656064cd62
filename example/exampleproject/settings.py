"""Settings of the tablecron example project: development only, SQLite, admin at /admin/,
REST API at /api/.

Run it with ``bash scripts/example`` from the repository root.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "django-insecure-tablecron-example-only"  # development only: never deploy this project
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "tablecron",
    "rest_framework",  # tablecron's REST API (the api extra)
    "rest_framework.authtoken",  # tokens for scripts: manage.py drf_create_token USER
    "django_filters",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The admin speaks the browser's language: English or Simplified Chinese.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "exampleproject.urls"
WSGI_APPLICATION = "exampleproject.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DATABASE", BASE_DIR / "db.sqlite3"),
        # Several processes write to this one file: take the write lock when a
        # transaction begins, and wait for it rather than fail with "database is locked".
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The browsable API signs in by session; scripts send "Authorization: Token KEY" (a key
# checked in one query) or HTTP Basic credentials (a password hashed on every request).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
}

LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
USE_I18N = True
# tablecron requires aware datetimes. TIME_ZONE is also the default time zone of a
# job's cron expression; each job can pick its own.
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# tablecron: every key is optional; uncomment one to change its default.
TABLECRON: dict[str, object] = {
    # The example runs its scheduler inside runserver; in production run
    # `manage.py tablecron scheduler` beside the web server, or keep this on to run one in
    # every web worker process.
    # EXAMPLE_SCHEDULER=0 leaves it off (scripts/fuzz-api fuzzes the API alone).
    "SCHEDULER_IN_WEB_WORKERS": os.environ.get("EXAMPLE_SCHEDULER", "1") != "0",
    # "POLL_INTERVAL": 0.5,  # seconds between two looks at the table
    # "EXECUTOR": "thread",  # "thread", "immediate" or the dotted path of an Executor
    # "MAX_WORKERS": 10,  # threads of the "thread" executor
    # "HEARTBEAT_INTERVAL": 10,  # seconds between a scheduler's signs of life
    # "LOST_AFTER": 60,  # seconds of silence after which a scheduler's runs are lost
    # "RUN_RETENTION": timedelta(days=30),  # how long finished JobRun rows are kept
    # "FAILED_RUN_RETENTION": timedelta(days=90),  # failed ones (default: RUN_RETENTION)
    # "RUNS_PER_JOB": 1000,  # keep at most the last N runs of each job (default: no limit)
    # "ALLOWED_TASKS": [],  # dotted paths of undecorated functions that may be scheduled
    # "MANAGEMENT_COMMANDS": ["clearsessions"],  # commands tablecron.management_command runs
    # "WEBHOOK_ALLOWED_HOSTS": ["chat.internal"],  # webhook hosts that may be internal
    # "ARGS_MAX_BYTES": 65536,  # size limit of a job's JSON args and kwargs
    # "RESULT_MAX_BYTES": 65536,  # size limit of a run's stored result
    # "SHUTDOWN_GRACE": 30,  # seconds running jobs get to finish when a scheduler stops
    # "CONNECTION_RECYCLE": 60,  # seconds after which a scheduler thread replaces its
    #                           # database connection, though it still works
}
