"""``JobRun``: one row per execution, and its lifecycle."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RunStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("scheduled")
    RUNNING = "running", _("running")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")
    TIMED_OUT = "timed_out", _("timed out")
    MISSED = "missed", _("missed")
    LOST = "lost", _("lost")
    CANCELLED = "cancelled", _("cancelled")


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", _("schedule")
    MANUAL = "manual", _("manual")
    RETRY = "retry", _("retry")


ACTIVE = (RunStatus.SCHEDULED, RunStatus.RUNNING)
# The ends that notify (a job's notifications) and count as its failing.
FAILING = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST, RunStatus.MISSED)


class AlertState(models.TextChoices):
    """What a job's notifications last said about it (``Job.alert_state``)."""

    OK = "ok", _("ok")
    FAILING = "failing", _("failing")
    SILENT = "silent", _("silent")


class JobRunQuerySet(models.QuerySet["JobRun"]):
    def active(self) -> JobRunQuerySet:
        """Runs claimed or running: they count against ``max_instances``."""
        return self.filter(status__in=ACTIVE)

    def pending(self, now: datetime) -> JobRunQuerySet:
        """Runs waiting for any scheduler: manual, retries and jittered fires."""
        return self.filter(status=RunStatus.SCHEDULED, worker="", not_before__lte=now)


class JobRun(models.Model):
    job = models.ForeignKey(
        "tablecron.Job",
        verbose_name=_("job"),
        related_name="runs",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    job_name = models.CharField(_("job name"), max_length=200)
    scheduled_for = models.DateTimeField(_("scheduled for"))
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=RunStatus.choices,
        default=RunStatus.SCHEDULED,
    )
    attempt = models.PositiveIntegerField(_("attempt"), default=1)
    trigger = models.CharField(
        _("trigger"),
        max_length=20,
        choices=RunTrigger.choices,
        default=RunTrigger.SCHEDULE,
    )
    result = models.JSONField(_("result"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    worker = models.CharField(
        _("worker"),
        max_length=255,
        blank=True,
        help_text=_("The scheduler that holds it, or the worker that ran it (host:pid:id)."),
    )
    executor = models.CharField(
        _("executor"),
        max_length=100,
        blank=True,
        default="",
        db_default="",
        help_text=_("What executed it: thread, process, celery, django_tasks, …"),
    )
    queue = models.CharField(_("queue"), max_length=200, blank=True, default="", db_default="")
    queued_at = models.DateTimeField(
        _("queued"),
        null=True,
        blank=True,
        help_text=_("When it was handed to the executor."),
    )
    engine_id = models.CharField(
        _("engine's id"),
        max_length=255,
        blank=True,
        default="",
        db_default="",
        help_text=_("The id the executing engine gave it (a Celery task id, say)."),
    )
    not_before = models.DateTimeField(
        _("not before"),
        null=True,
        blank=True,
        help_text=_("A waiting run starts at this moment at the earliest."),
    )

    objects: ClassVar[JobRunQuerySet] = JobRunQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        ordering = ["-scheduled_for", "-attempt"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "scheduled_for", "attempt"],
                name="tablecron_jobrun_once",
            ),
        ]
        # Few indexes: every run is written twice (claimed, ended), and each write updates
        # all of them. A job's runs, newest first, are a backward scan of the unique key;
        # the active runs (and a worker's) are found through their status.
        indexes = [
            models.Index(fields=["status", "scheduled_for"], name="tablecron_run_status_time"),
        ]

    def __str__(self) -> str:
        return f"{self.job_name} @ {self.scheduled_for:%Y-%m-%d %H:%M:%S%z}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.job_name and self.job is not None:
            self.job_name = self.job.name
        super().save(*args, **kwargs)

    @property
    def time_queued(self) -> timedelta | None:
        """From being handed to the executor until it started (or until now, if waiting)."""
        if self.queued_at is None:
            return None
        return (self.started_at or timezone.now()) - self.queued_at

    @property
    def time_running(self) -> timedelta | None:
        """From its start to its end, or until now while it runs."""
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def worker_host(self) -> str:
        """The host in ``worker``: a scheduler's id is host:pid:token, a worker's
        celery@host:pid:token."""
        return self.worker.rpartition("@")[2].rsplit(":", 2)[0]

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at
