"""A Django project with Celery, set up as Celery's "First steps with Django" guide sets
it up; the celery executor's process tests start its schedulers and workers."""

from tests.celery_project.celery import app as celery_app

__all__ = ("celery_app",)
