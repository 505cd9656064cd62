"""django-celery-beat's side: the Celery task its PeriodicTask rows name."""

from celery import shared_task

from benchapp.recording import record as record_call


@shared_task(name="benchapp.record", ignore_result=True)
def record(job: str) -> None:
    record_call(job)
