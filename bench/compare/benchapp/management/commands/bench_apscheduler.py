"""django-apscheduler as its README runs it: a BlockingScheduler with a DjangoJobStore in a
management command. The bench adds the jobs beforehand with ``add_job()``; SIGTERM stops it
(once the jobs running have finished)."""

import signal
import threading
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler
from django.conf import settings
from django.core.management.base import BaseCommand
from django_apscheduler.jobstores import DjangoJobStore


class Command(BaseCommand):
    help = "Run django-apscheduler's BlockingScheduler over the DjangoJobStore (bench only)."

    def handle(self, *args: Any, **options: Any) -> None:
        scheduler = BlockingScheduler(timezone=settings.TIME_ZONE)
        scheduler.add_jobstore(DjangoJobStore(), "default")

        # Shut down from another thread: a KeyboardInterrupt raised in the scheduler's own
        # loop can cut a database transaction short, and the shutdown then waits forever
        # for job threads blocked on its locks.
        def stop(*_: Any) -> None:
            threading.Thread(target=scheduler.shutdown).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        scheduler.start()
