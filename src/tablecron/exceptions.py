"""The one exception hierarchy of tablecron."""

from django.core.exceptions import ImproperlyConfigured


class TablecronError(Exception):
    """Base class of every error tablecron raises on purpose."""


class InvalidSchedule(TablecronError, ValueError):
    """A schedule cannot be built from the values given; the message is for a person."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class UnknownTask(TablecronError, LookupError):
    """No registered task has this name in this process."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class RefusedTask(UnknownTask):
    """The name is in ``ALLOWED_TASKS``, but what it names is a gateway to code (see
    ``tablecron.gateways``): it is never scheduled nor run."""

    def __init__(self, name: str, gateway: str) -> None:
        super().__init__(name)
        self.gateway = gateway


class GatewayTask(TablecronError, ImproperlyConfigured):
    """A gateway to code (see ``tablecron.gateways``) was registered as a task."""


class TaskAlreadyRegistered(TablecronError, ImproperlyConfigured):
    """Two different callables were registered under the same task name."""


class JobAlreadyDeclared(TablecronError, ImproperlyConfigured):
    """Two different declarations in code give the same job name."""


class TooManyRuns(TablecronError):
    """``Job.run_now()`` refused: the job has ``MANUAL_RUNS_PER_JOB`` manual runs waiting
    or running already. The message is for a person (the API answers it with 409)."""

    def __init__(self, message: str, job_name: str, limit: int) -> None:
        super().__init__(message)
        self.message = message
        self.job_name = job_name
        self.limit = limit


class WebhookFailed(TablecronError):
    """A webhook was not delivered: its receiver answered with an error (retried)."""


class WebhookRefused(WebhookFailed):
    """tablecron will not POST there: an internal address, or a redirect (not retried)."""


class WebhookRejected(WebhookFailed):
    """The receiver refused the notice for good: a 4xx answer other than 408 and 429 (a
    revoked URL's 404, say). Not retried: the same request would be refused again."""


class ImportSourceError(TablecronError):
    """``manage.py tablecron import`` cannot read the source it was given."""


class NotImportable(TablecronError):
    """A row of another scheduler that tablecron cannot express; the message says why."""


class RunCancelled(BaseException):
    """Raised inside a run's task to stop it, where the executor can interrupt it (the
    process executor's child on SIGTERM). A ``BaseException``, as ``KeyboardInterrupt``
    is, so that a task's ``except Exception`` does not swallow it."""
