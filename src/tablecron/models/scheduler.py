"""``SchedulerInstance``: one row per running scheduler, kept fresh by its heartbeat."""

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


class SchedulerInstance(models.Model):
    id = models.CharField(_("name"), max_length=255, primary_key=True)
    host = models.CharField(_("host"), max_length=255)
    pid = models.PositiveIntegerField(_("process id"))
    started_at = models.DateTimeField(_("started"))
    heartbeat_at = models.DateTimeField(_("last heartbeat"), db_index=True)

    objects: ClassVar[SchedulerInstanceQuerySet] = SchedulerInstanceQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        verbose_name = _("scheduler")
        verbose_name_plural = _("schedulers")
        ordering = ["host", "pid"]

    def __str__(self) -> str:
        return self.id
