from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError

from tablecron.conf import settings
from tablecron.db import db_now
from tablecron.management.subcommands import Subcommand
from tablecron.models import SchedulerInstance
from tablecron.models.scheduler import Role
from tablecron.notifications import claim_notices, deliver


class Status(Subcommand):
    help = "List live schedulers and workers; exits 1 when no scheduler is alive (for monitoring)."
    description = (
        "List live schedulers and workers; exits 1 when no scheduler is alive. It also sends "
        "the notifications that are due (a job failing, silent or recovered), so that a dead "
        "man's switch fires even when no scheduler is alive to notice."
    )

    def handle(self, **options: Any) -> None:
        now = db_now()
        for notice in claim_notices(now):
            sent = deliver(notice)
            self.stdout.write(f"{'notified' if sent else 'could not notify'}: {notice.text}")
        alive = list(SchedulerInstance.objects.alive(now, timedelta(seconds=settings.LOST_AFTER)))
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
