"""The bench's Celery app, set up as Celery's "First steps with Django" guide does."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchcompare.settings")

app = Celery("benchcompare")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds benchapp.tasks, and tablecron's worker-side task: tablecron is an installed app.
app.autodiscover_tasks()
