# As Celery's "First steps with Django": the app is loaded whenever Django starts, so that
# @shared_task (and any Celery executor) uses it.
from benchcompare.celery import app as celery_app

__all__ = ("celery_app",)
