from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError

from tablecron.conf import settings
from tablecron.db import db_now
from tablecron.management.subcommands import Subcommand
from tablecron.models import SchedulerInstance


class Status(Subcommand):
    help = "List live schedulers; exits 1 when there is none (for monitoring)."

    def handle(self, **options: Any) -> None:
        now = db_now()
        alive = SchedulerInstance.objects.alive(now, timedelta(seconds=settings.LOST_AFTER))
        for instance in alive:
            age = (now - instance.heartbeat_at).total_seconds()
            self.stdout.write(
                f"{instance.id}  started {instance.started_at:%Y-%m-%d %H:%M:%S %Z}  "
                f"last heartbeat {age:.0f} s ago"
            )
        if not alive:
            raise CommandError("No live tablecron scheduler.", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"{len(alive)} live scheduler(s)."))
