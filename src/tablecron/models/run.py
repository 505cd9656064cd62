"""``JobRun``: one row per execution, and its lifecycle."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tablecron.models import job_audit


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
    AFTER = "after", _("after another job")


ACTIVE = (RunStatus.SCHEDULED, RunStatus.RUNNING)
# What a run's waiting_reason reads.
WAITING_FIELDS = frozenset({"status", "worker", "waiting_since", "concurrency_group"})


def cancelled_error(by: str) -> str:
    """A cancelled run's ``error``: who asked."""
    return f"Cancelled by {by}." if by else "Cancelled."


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
        return self.filter(
            status=RunStatus.SCHEDULED, worker="", not_before__lte=now, cancel_requested_at=None
        )

    def pending_for_group(self, group: str) -> JobRunQuerySet:
        """Runs that found their concurrency ``group`` full and wait for a slot."""
        return self.filter(
            status=RunStatus.SCHEDULED,
            worker="",
            concurrency_group=group,
            waiting_since__isnull=False,
        )

    def manual_waiting_or_running(self) -> JobRunQuerySet:
        """Manual runs not ended yet: ``MANUAL_RUNS_PER_JOB`` caps them per job."""
        return self.active().filter(trigger=RunTrigger.MANUAL)

    def cancelling(self) -> JobRunQuerySet:
        """Runs someone asked to cancel that have not ended yet."""
        return self.active().filter(cancel_requested_at__isnull=False)


class JobRun(models.Model):
    job = models.ForeignKey(
        "tablecron.Job",
        verbose_name=_("job"),
        related_name="runs",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,  # the unique key (job, scheduled_for, attempt) leads with it
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
    claimed_by = models.CharField(
        _("claimed by"),
        max_length=255,
        blank=True,
        default="",
        db_default="",
        help_text=_("The scheduler that claimed it (its worker may be another: a queue's)."),
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
    args = models.JSONField(
        _("positional arguments"),
        null=True,
        blank=True,
        help_text=_("What it ran with: its job's when it was claimed, or its own."),
    )
    kwargs = models.JSONField(
        _("keyword arguments"),
        null=True,
        blank=True,
        help_text=_("What it ran with: its job's when it was claimed, or its own."),
    )
    rerun_of = models.ForeignKey(
        "self",
        verbose_name=_("run again from"),
        related_name="reruns",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        # On PostgreSQL its index holds only the runs that repeat one (migration 0019).
    )
    upstream_run = models.ForeignKey(
        "self",
        verbose_name=_("after run"),
        related_name="follower_runs",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        # The unique key below leads with it: one index serves both, and a run
        # inserted costs one index less.
        db_index=False,
        help_text=_("The run of the job this one runs after, whose success started it."),
    )
    ignore_max_instances = models.BooleanField(
        _("beside running ones"),
        default=False,
        db_default=False,  # the scheduler's own inserts do not name it
        help_text=_(
            "A manual run that starts even while its job's max. concurrent runs are running."
        ),
    )
    concurrency_group = models.CharField(
        _("concurrency group"),
        max_length=100,
        blank=True,
        default="",
        db_default="",
        help_text=_("The group whose slot it holds, or waits for."),
    )
    waiting_since = models.DateTimeField(
        _("waiting since"),
        null=True,
        blank=True,
        help_text=_("When it was due to start and found its concurrency group full."),
    )
    cancel_requested_at = models.DateTimeField(_("cancel requested"), null=True, blank=True)
    cancel_requested_by = models.CharField(
        _("cancel requested by"), max_length=150, blank=True, default="", db_default=""
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
            # Each success of an upstream job runs each of its followers once. On
            # PostgreSQL a partial unique index of this name (migration 0019): only the
            # runs that follow one.
            models.UniqueConstraint(
                fields=["upstream_run", "job"],
                name="tablecron_jobrun_follows_once",
            ),
        ]
        # Few indexes: every run is written twice (claimed, ended), and each write updates
        # all of them. A job's runs, newest first, are a backward scan of the unique key;
        # the active runs (and a worker's) are found through their status.
        indexes = [
            models.Index(fields=["status", "scheduled_for"], name="tablecron_run_status_time"),
            # Notifications' (migration 0017): on PostgreSQL partial, failed runs only.
            models.Index(fields=["status", "finished_at"], name="tablecron_run_status_ended"),
        ]
        # Beside view: output can hold secrets; stopping a run is an operator's act.
        permissions = [
            ("view_output", _("Can view the output of job runs")),
            ("cancel_jobrun", _("Can cancel job runs")),
        ]

    def __str__(self) -> str:
        return f"{self.job_name} @ {self.scheduled_for:%Y-%m-%d %H:%M:%S%z}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.job_name and self.job is not None:
            self.job_name = self.job.name
        super().save(*args, **kwargs)

    @property
    def output(self) -> str:
        """What the run printed and logged, each line with its time and its stream or
        level; where it wrote more than ``OUTPUT_LIMIT``, its head and tail."""
        from tablecron.models.output import RunOutput

        return RunOutput.objects.using(self._state.db).read(self.pk).text

    def cancel(self, by: str = "") -> bool:
        """Stop this run: one that has not started never starts, and ends ``cancelled`` now;
        a running one is stopped by the process that runs it, within about a second (how,
        depends on the executor: docs/executors.md), and ends ``cancelled``. ``by`` names
        who asked. False, and nothing changes, if it had ended already (or was being
        cancelled)."""
        from tablecron.models.job import Job  # the sender of the audit's signal

        now = timezone.now()
        asked = JobRun.objects.using(self._state.db).filter(
            pk=self.pk, status__in=ACTIVE, cancel_requested_at__isnull=True
        )
        if not asked.update(cancel_requested_at=now, cancel_requested_by=by):
            self.refresh_from_db()
            return False
        # Ended here if no process started it meanwhile; else its process ends it. Above
        # the models (it is the one way a run ends): imported here, not at the top.
        from tablecron.outcomes import end

        self.refresh_from_db()
        if self.status == RunStatus.SCHEDULED:
            end([self], RunStatus.CANCELLED, cancelled_error(by), now)
            self.refresh_from_db()
        if self.job_id is not None and job_audit.watched(Job):
            write = job_audit.JobWrite(self.job_id, self.job_name, "cancel", {}, self.pk)
            job_audit.report(Job, self._state.db, [write])
        return True

    def rerun(self) -> JobRun:
        """Run its job once more, now, with this run's arguments (its job's, for a run
        recorded before runs kept theirs); the new run is linked to this one
        (``rerun_of``)."""
        if self.job is None:
            raise ValueError(f"Run {self.pk} cannot be run again: its job was deleted.")
        args = self.job.args if self.args is None else self.args
        kwargs = self.job.kwargs if self.kwargs is None else self.kwargs
        return self.job.run_now(args=args, kwargs=kwargs, rerun_of=self)

    @property
    def waiting_reason(self) -> str:
        """Why a run has not started yet, if its concurrency group is full: "waiting for
        group warehouse: 1 of 1 running" (counted now); else empty. Empty too where the
        run was read without its waiting fields (lists that load few columns: no query
        per row)."""
        if WAITING_FIELDS & self.get_deferred_fields():
            return ""
        if self.status != RunStatus.SCHEDULED or self.worker or self.waiting_since is None:
            return ""
        from tablecron.models.group import waiting_reason

        return waiting_reason(self.concurrency_group, self._state.db)

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
