"""Run by scripts/beside-celery-beat in a venv holding tablecron and django-celery-beat:
checks, a beat row imported, the admin's job list rendered. Exits non-zero on a failure."""

import io
import sys
import types

from django.conf import settings

settings.configure(
    INSTALLED_APPS=[
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.messages",
        "django.contrib.sessions",
        "django_celery_beat",
        "tablecron",
    ],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.locale.LocaleMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ],
    TEMPLATES=[
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
    ],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": ":memory:",
            "OPTIONS": {"transaction_mode": "IMMEDIATE"},
        }
    },
    ROOT_URLCONF="probe_urls",
    USE_TZ=True,
    SECRET_KEY="probe",
    ALLOWED_HOSTS=["testserver"],
)


def report() -> None:
    """The task the beat row calls."""


urls = types.ModuleType("probe_urls")
sys.modules["probe_urls"] = urls

import django  # noqa: E402

django.setup()

from django.contrib import admin  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import path  # noqa: E402
from django_celery_beat.models import CrontabSchedule, PeriodicTask  # noqa: E402

import tablecron  # noqa: E402
from tablecron.models import Job  # noqa: E402

report.__module__ = "probe.tasks"
tablecron.register(report)  # as a project's tablecron_jobs.py would (docs/migrating.md)
urls.urlpatterns = [path("admin/", admin.site.urls)]  # type: ignore[attr-defined]

out = io.StringIO()
call_command("check", stdout=out, stderr=out)
print("   check:", " ".join(out.getvalue().split()) or "no issues")
call_command("migrate", verbosity=0)
crontab = CrontabSchedule.objects.create(minute="0", hour="3", timezone="Europe/Paris")
PeriodicTask.objects.create(name="nightly-report", task="probe.tasks.report", crontab=crontab)
for dry_run in (True, False):
    out = io.StringIO()
    call_command("tablecron", "import", "celery-beat", dry_run=dry_run, stdout=out)
    print("  ", out.getvalue().strip().splitlines()[0])
assert Job.objects.filter(name="nightly-report", cron="0 3 * * *").exists()
client = Client()
client.force_login(User.objects.create_superuser("admin", "admin@example.com", "x"))
for language in ("en", "zh-hans"):
    page = client.get("/admin/tablecron/job/", headers={"accept-language": language})
    assert page.status_code == 200, page.status_code
    words = "At 03:00" if language == "en" else "在 03:00"
    assert words in page.content.decode(), f"no {words!r} in the job list"
    print(f"   the admin's job list ({language}): 200, {words!r}")
