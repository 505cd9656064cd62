"""django-apscheduler's side: the function its jobs call (stored as "module:function")."""

from benchapp.recording import record as record_call


def record(job: str) -> None:
    record_call(job)
