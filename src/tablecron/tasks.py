"""Found by a Celery app's ``autodiscover_tasks()``: the worker side of ``EXECUTOR:
"celery"``. Nothing else imports this module; the core needs no Celery."""

from tablecron.executors.celery import run

__all__ = ["run"]
