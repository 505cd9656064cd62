from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError

from tablecron.conf import settings
from tablecron.db import db_now
from tablecron.management.subcommands import Subcommand
from tablecron.models import SchedulerInstance
from tablecron.models.scheduler import Role


class Status(Subcommand):
    help = "List live schedulers and workers; exits 1 when no scheduler is alive (for monitoring)."
    description = (
        "List live schedulers and workers; exits 1 when no scheduler is alive. A health "
        "probe: it only reads, and sends no notification (the schedulers do), so it answers "
        "at once whatever mail servers and webhooks do."
    )

    def handle(self, **options: Any) -> None:
        lost_after = timedelta(seconds=settings.LOST_AFTER)
        alive = list(SchedulerInstance.objects.alive(db_now(), lost_after))
        now = db_now()  # after the read, so no heartbeat read is ahead of it
        for instance in alive:
            age = (now - instance.heartbeat_at).total_seconds()
            self.stdout.write(
                f"{instance.role:<9}  {instance.id}  started "
                f"{instance.started_at:%Y-%m-%d %H:%M:%S %Z}  last heartbeat {age:.0f} s ago"
            )
        schedulers = sum(instance.role == Role.SCHEDULER for instance in alive)
        if not schedulers:  # workers alone run nothing that is not claimed
            raise CommandError("No live tablecron scheduler.", returncode=1)
        workers = len(alive) - schedulers
        self.stdout.write(
            self.style.SUCCESS(f"{schedulers} live scheduler(s), {workers} live worker(s).")
        )
