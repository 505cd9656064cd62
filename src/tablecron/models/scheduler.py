"""``SchedulerInstance``: one row per running scheduler, and per worker process that
executes runs for an out-of-process executor, kept fresh by its heartbeat."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _


class SchedulerInstanceQuerySet(models.QuerySet["SchedulerInstance"]):
    def alive(self, now: datetime, lost_after: timedelta) -> SchedulerInstanceQuerySet:
        return self.filter(heartbeat_at__gte=now - lost_after)

    def dead(self, now: datetime, lost_after: timedelta) -> SchedulerInstanceQuerySet:
        return self.filter(heartbeat_at__lt=now - lost_after)


class Role(models.TextChoices):
    SCHEDULER = "scheduler", _("scheduler")
    WORKER = "worker", _("worker")


class SchedulerInstance(models.Model):
    id = models.CharField(_("name"), max_length=255, primary_key=True)
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.SCHEDULER)
    host = models.CharField(_("host"), max_length=255)
    pid = models.PositiveIntegerField(_("process id"))
    started_at = models.DateTimeField(_("started"))
    heartbeat_at = models.DateTimeField(_("last heartbeat"), db_index=True)

    objects: ClassVar[SchedulerInstanceQuerySet] = SchedulerInstanceQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        verbose_name = _("scheduler or worker")
        verbose_name_plural = _("schedulers and workers")
        ordering = ["host", "pid"]

    def __str__(self) -> str:
        return self.id
