"""``EXECUTOR: "django_tasks"``: each claim is enqueued on a Django Tasks backend
(``django.tasks`` in Django 6, the ``django-tasks`` backport on 5.2), whose workers run
it: django-tasks-db's ``db_worker``, django-tasks-rq's RQ workers, ….

The backend is ``TASKS_BACKEND`` (an alias of Django's ``TASKS`` setting). Where it keeps
its queue in tablecron's own database (django-tasks-db on the same database), a claim
enqueues inside its own transaction: a claim that commits is enqueued, one that rolls
back is not. Any other backend is sent to after the commit. Each run goes to its job's
``queue`` (the backend's default queue if empty).
"""

from __future__ import annotations

from typing import Any

from django.db import router

from tablecron.conf import settings
from tablecron.execution import Claim
from tablecron.executors.queues import QueueExecutor
from tablecron.models import JobRun
from tablecron.workers import run_message

try:  # Django 6
    from django.tasks import DEFAULT_TASK_QUEUE_NAME, TaskContext, task, task_backends
except ImportError:  # Django 5.2 and the backport
    from django_tasks import (  # type: ignore[no-redef,assignment]
        DEFAULT_TASK_QUEUE_NAME,
        TaskContext,
        task,
        task_backends,
    )


def _connection_errors() -> tuple[type[BaseException], ...]:
    """What a backend raises while its queue is away: OSError, and redis-py's own
    ConnectionError for django-tasks-rq."""
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
    except ImportError:
        return (OSError,)
    return (OSError, RedisConnectionError)


@task(takes_context=True)
def run(context: TaskContext[Any, Any], message: dict[str, Any]) -> str | None:
    """The worker side: execute the claim in ``message``, exactly once."""
    return run_message(message, engine="django_tasks", engine_id=str(context.task_result.id))


class DjangoTasksExecutor(QueueExecutor):
    name = "django_tasks"
    away_errors = _connection_errors()

    def __init__(self, backend: str | None = None) -> None:
        super().__init__()
        self.backend = backend or settings.TASKS_BACKEND
        queue_db = _queue_database(task_backends[self.backend])
        self.submits_in_claim = queue_db == router.db_for_write(JobRun)

    @classmethod
    def queues(cls) -> frozenset[str] | None:
        """The backend's ``QUEUES``, if it limits them (an empty list allows any)."""
        accepted = frozenset(task_backends[settings.TASKS_BACKEND].queues)
        return accepted or None

    def publish(self, claim: Claim) -> None:
        queue = claim.queue or DEFAULT_TASK_QUEUE_NAME
        run.using(backend=self.backend, queue_name=queue).enqueue(claim.to_message())


def _queue_database(backend: Any) -> str | None:
    """The database alias a backend keeps its queue in, if it keeps it in one."""
    try:
        from django_tasks_db import DatabaseBackend
        from django_tasks_db.models import DBTaskResult
    except ImportError:
        return None
    if not isinstance(backend, DatabaseBackend):
        return None
    return router.db_for_write(DBTaskResult)
