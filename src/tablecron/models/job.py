"""``Job``: one row per job, and ``JobQuerySet``, the ORM paths that write many at once.

``next_run_at`` is kept true in the same transaction as every write, by every ORM path
(save, create, bulk_create, update, bulk_update): each of them calls ``Job._reschedule()``.
Django's bulk paths skip ``Model.save()``, which is where other schedulers hang their
hooks and lose edits; here the queryset does it itself. Any process just writes rows;
nothing here knows about the scheduler.

The same paths, and ``run_now()``, report what they changed of the fields a person edits
(``signals.jobs_written``, with the values before and after) to whoever listens: the audit
trail. Nobody listening, nothing is computed.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any, ClassVar, NamedTuple, Self

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import connections, models, router, transaction
from django.db.models import F, Q
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.dateparse import parse_duration
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tablecron import schedules
from tablecron.conf import settings as tablecron_settings
from tablecron.exceptions import InvalidSchedule, RefusedTask, TooManyRuns, UnknownTask
from tablecron.models.calendar import CALENDAR_FIELDS, CalendarRule, schedule_of
from tablecron.models.chain import after_errors
from tablecron.models.group import ensure_groups
from tablecron.models.run import AlertState, JobRun, RunStatus, RunTrigger
from tablecron.registry import RegisteredTask, tasks
from tablecron.signals import jobs_written
from tablecron.validators import (
    check_queue_accepted,
    validate_args,
    validate_duration,
    validate_emails,
    validate_json_depth,
    validate_kwargs,
    validate_moment,
    validate_queue,
    validate_text,
    validate_webhook,
    validate_webhook_address,
)

# The fields that decide when a job fires: writing any of them moves ``next_run_at``.
SCHEDULE_FIELDS = (*schedules.FIELDS, *CALENDAR_FIELDS, "enabled")
# Columns the package keeps; a person's full save() never writes back stale copies.
SCHEDULER_FIELDS = (
    "next_run_at",
    "last_run_at",
    "last_status",
    "version",
    "last_success_at",
    "alert_state",
    "alerted_at",
)

_CHUNK = 500
DESCRIPTION_MAX_LENGTH = 10_000


class JobWrite(NamedTuple):
    """One job's write, as ``signals.jobs_written`` reports it to the audit trail."""

    pk: Any
    name: str
    kind: str  # "added", "changed", "deleted", or of one run: "run_now", "rerun", "cancel"
    changes: dict[str, tuple[Any, Any]]  # field name -> (before, after)
    run: Any = None  # of one run: the run's pk


def _watched() -> bool:
    """Whether anyone listens for writes (the audit trail): if not, nothing is computed."""
    return jobs_written.has_listeners(Job)


def _report(using: str | None, writes: list[JobWrite]) -> None:
    if writes:
        jobs_written.send(sender=Job, writes=writes, using=using)


class JobQuerySet(models.QuerySet["Job"]):
    def due(self, now: datetime | None = None) -> JobQuerySet:
        """Enabled jobs whose next run is at or before ``now`` (the database's clock)."""
        return self.filter(enabled=True, next_run_at__lte=now or Now()).order_by("next_run_at")

    def bulk_create(self, objs: Iterable[Job], *args: Any, **kwargs: Any) -> list[Job]:
        objs = list(objs)
        now = timezone.now()
        for obj in objs:
            obj._reschedule(SCHEDULE_FIELDS, now)  # a new row: all of its schedule is new
        update_fields = kwargs.get("update_fields")
        if update_fields and not set(update_fields).isdisjoint(SCHEDULE_FIELDS):
            kwargs["update_fields"] = [*update_fields, "next_run_at"]
        watched = _watched()
        writes = [obj._write() if watched else None for obj in objs]
        created = super().bulk_create(objs, *args, **kwargs)
        for obj in created:
            obj._written()
        _report(
            self.db,
            [w._replace(pk=obj.pk) for w, obj in zip(writes, objs, strict=True) if w is not None],
        )
        return created

    def bulk_update(
        self, objs: Iterable[Job], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        objs = list(objs)
        fields = list(fields)
        now = timezone.now()
        if not set(fields).isdisjoint(SCHEDULE_FIELDS):
            for obj in objs:
                obj._reschedule(obj.schedule_changes().intersection(fields), now)
                obj.version = F("version") + 1
            fields += ["next_run_at", "version"]
        if set(fields).difference(SCHEDULER_FIELDS):
            for obj in objs:
                obj.updated_at = now
            fields.append("updated_at")
        # Django's bulk_update() calls update(), which reports the changes to the trail.
        rows = super().bulk_update(objs, fields, batch_size=batch_size)
        for obj in objs:
            obj._written()
        return rows

    def update(self, **kwargs: Any) -> int:
        watched = [name for name in audited_fields() if name in kwargs]
        if not watched or not _watched():
            return self._update(kwargs)
        with transaction.atomic(using=self.db):
            fields = list(dict.fromkeys(["name", *watched]))
            rows_before = self._locked().order_by().values_list("pk", *fields)
            before = {pk: values for pk, *values in rows_before}
            rows = self._update(kwargs)
            _report(self.db, self._updated_writes(before, fields, watched))
        return rows

    def _updated_writes(
        self, before: dict[Any, list[Any]], fields: list[str], watched: list[str]
    ) -> list[JobWrite]:
        """What an update() changed, row by row: the rows read before it and after it."""
        plain: models.QuerySet[Job] = models.QuerySet(self.model, using=self.db)
        pks, writes = list(before), []
        for start in range(0, len(pks), _CHUNK):
            after = plain.filter(pk__in=pks[start : start + _CHUNK]).values_list("pk", *fields)
            for pk, *values in after:
                old, new = (
                    dict(zip(fields, before[pk], strict=True)),
                    dict(zip(fields, values, strict=True)),
                )
                changes = {n: (old[n], new[n]) for n in watched if old[n] != new[n]}
                if changes:
                    writes.append(JobWrite(pk, new["name"], "changed", changes))
        return writes

    def _update(self, kwargs: dict[str, Any]) -> int:
        if kwargs.keys() - SCHEDULER_FIELDS:
            # This process's clock, as auto_now's: SQLite's Now() has only milliseconds,
            # and could set updated_at before created_at.
            kwargs.setdefault("updated_at", timezone.now())
        touched = kwargs.keys() & SCHEDULE_FIELDS
        if not touched:
            return super().update(**kwargs)
        kwargs["version"] = F("version") + 1
        if touched == {"enabled"} and kwargs["enabled"] is False:
            return super().update(next_run_at=None, **kwargs)  # pausing needs no schedule
        with transaction.atomic(using=self.db):
            before = dict(self._locked_schedules())
            rows = super().update(**kwargs)
            self._reschedule_updated(before)
        return rows

    def reschedule(self) -> int:
        """Recompute ``next_run_at`` of these rows for a change they do not hold: the
        custom calendar they use was edited. A new version, as after any schedule write,
        keeps a scheduler's older reading of a row from moving it back."""
        plain: models.QuerySet[Job] = models.QuerySet(self.model, using=self.db)
        with transaction.atomic(using=self.db):
            jobs = list(self._locked().filter(enabled=True))
            now = timezone.now()
            for job in jobs:
                job._reschedule({"calendar"}, now)
                job.version = F("version") + 1
            plain.bulk_update(jobs, ["next_run_at", "version"])
        return len(jobs)

    def _locked(self) -> JobQuerySet:
        """The rows, to be locked where the database can when read."""
        locking = connections[self.db].features.has_select_for_update
        return self.select_for_update() if locking else self

    def _locked_schedules(self) -> Iterable[tuple[Any, tuple[Any, ...]]]:
        """(pk, schedule state) of each row, locked where the database can."""
        for pk, *values in self._locked().order_by().values_list("pk", *SCHEDULE_FIELDS):
            yield pk, tuple(values)

    def _reschedule_updated(self, before: dict[Any, tuple[Any, ...]]) -> None:
        """After an update, recompute ``next_run_at`` of the rows whose schedule changed."""
        plain: models.QuerySet[Job] = models.QuerySet(self.model, using=self.db)  # no overrides
        pks = list(before)
        now = timezone.now()
        for start in range(0, len(pks), _CHUNK):
            changed = []
            for job in plain.filter(pk__in=pks[start : start + _CHUNK]):
                job._loaded_schedule = before[job.pk]  # compare with the row before the update
                if job._reschedule(job.schedule_changes(), now):
                    changed.append(job)
            plain.bulk_update(changed, ["next_run_at"])


def default_timezone() -> str:
    return str(django_settings.TIME_ZONE or "UTC")


def _non_negative(name: str) -> Q:
    return Q(**{f"{name}__isnull": True}) | Q(**{f"{name}__gte": timedelta(0)})


class CodeStatus(models.TextChoices):
    """Whether code declares the job (``tablecron.declare``) and so owns its fields."""

    TABLE = "", _("no: made in the table")
    DECLARED = "declared", _("yes: declared in code")
    REMOVED = "removed", _("removed from code")


class Job(models.Model):
    name = models.CharField(
        _("name"),
        validators=[validate_text],
        max_length=200,
        unique=True,
        help_text=_("A unique name for this job, e.g. “nightly-report”."),
    )
    description = models.TextField(
        _("description"),
        blank=True,
        # A validator, not max_length: on a TextField that would only reach forms (and
        # make SQLite rebuild the table).
        validators=[MaxLengthValidator(DESCRIPTION_MAX_LENGTH), validate_text],
    )
    task = models.CharField(  # not indexed: see migration 0004
        _("task"),
        validators=[validate_text],
        max_length=200,
        help_text=_("The registered task this job runs."),
    )
    args = models.JSONField(
        _("positional arguments"),
        default=list,
        blank=True,
        validators=[validate_args],
        help_text=_('A JSON list, e.g. [1, "two"].'),
    )
    kwargs = models.JSONField(
        _("keyword arguments"),
        default=dict,
        blank=True,
        validators=[validate_kwargs],
        help_text=_('A JSON object, e.g. {"days": 7}.'),
    )
    cron = models.CharField(
        _("cron expression"),
        validators=[validate_text],
        max_length=200,
        blank=True,
        help_text=_(
            "Minute hour day month weekday, optionally with leading seconds, or @hourly, "
            "@daily, @weekly, @monthly, @yearly. Leave empty if the job uses another schedule."
        ),
    )
    interval = models.DurationField(
        _("interval"),
        validators=[validate_duration],
        null=True,
        blank=True,
        help_text=_("Run every this long, e.g. “00:15:00” for every 15 minutes."),
    )
    run_at = models.DateTimeField(
        _("run once at"),
        validators=[validate_moment],
        null=True,
        blank=True,
        help_text=_("Run a single time at this moment."),
    )
    timezone = models.CharField(
        _("time zone"),
        validators=[validate_text],
        max_length=64,
        default=default_timezone,
        help_text=_("The IANA time zone the cron expression is read in, e.g. “Asia/Shanghai”."),
    )
    start_at = models.DateTimeField(
        _("start"),
        validators=[validate_moment],
        null=True,
        blank=True,
        help_text=_("Do not run before this moment."),
    )
    end_at = models.DateTimeField(
        _("end"),
        validators=[validate_moment],
        null=True,
        blank=True,
        help_text=_("Do not run after this moment."),
    )
    calendar = models.CharField(
        _("calendar"),
        max_length=100,
        blank=True,
        default="",
        db_default="",
        validators=[validate_text],
        help_text=_(
            "Working days: a country code with an optional subdivision (“CN”, “US-CA”, "
            "“DE-BY”) or the name of a calendar kept here. Empty: every day."
        ),
    )
    calendar_rule = models.CharField(
        _("on a day off"),
        max_length=10,
        choices=CalendarRule.choices,
        default=CalendarRule.SKIP,
        db_default=CalendarRule.SKIP,
        help_text=_(
            "What a fire on a day that is not a working day does: nothing, or the same on "
            "the next or previous working day; or fire only on the Nth working day of the "
            "month."
        ),
    )
    calendar_day = models.SmallIntegerField(
        _("working day of the month"),
        null=True,
        blank=True,
        validators=[
            MinValueValidator(-schedules.MAX_CALENDAR_DAY),
            MaxValueValidator(schedules.MAX_CALENDAR_DAY),
        ],
        help_text=_("With “Nth working day”: 1 for the first, 2 for the second, -1 for the last."),
    )
    after = models.ForeignKey(
        "self",
        verbose_name=_("run after"),
        related_name="followers",
        null=True,
        blank=True,
        # The follower stays, following nothing: manual only (docs/howto.md).
        on_delete=models.SET_NULL,
        help_text=_(
            "Run this job each time that job succeeds, instead of at set times. Leave the "
            "time schedule empty."
        ),
    )
    jitter = models.DurationField(
        _("jitter"),
        validators=[validate_duration],
        null=True,
        blank=True,
        help_text=_("Delay each run by a random time up to this long, to spread load."),
    )
    enabled = models.BooleanField(
        _("enabled"),
        default=True,
        help_text=_("Untick to pause the job; it stays here."),
    )
    misfire_grace = models.DurationField(
        _("misfire grace time"),
        validators=[validate_duration],
        null=True,
        blank=True,
        help_text=_("How late a run may still start. Empty: however late."),
    )
    coalesce = models.BooleanField(
        _("coalesce"),
        default=True,
        help_text=_("After downtime, run missed times once instead of once each."),
    )
    max_instances = models.PositiveIntegerField(
        _("max. concurrent runs"),
        default=1,
        validators=[MinValueValidator(1)],
    )
    timeout = models.DurationField(
        _("timeout"),
        validators=[validate_duration],
        null=True,
        blank=True,
        help_text=_(
            "Stop a run after this long (the thread executor can only stop waiting for it). "
            "Empty: no limit."
        ),
    )
    max_retries = models.PositiveIntegerField(
        _("max. retries"),
        default=0,
        help_text=_("Retries of a failed run."),
    )
    retry_delay = models.DurationField(
        _("retry delay"),
        validators=[validate_duration],
        default=timedelta(seconds=60),
        help_text=_("Wait this long before retrying a failed run."),
    )
    queue = models.CharField(
        _("queue"),
        max_length=200,
        blank=True,
        validators=[validate_queue, validate_text],
        help_text=_(
            "The executor's queue to send runs to, e.g. “reports” for Celery workers started "
            "with -Q reports. Empty: the executor's default queue."
        ),
    )
    concurrency_group = models.CharField(
        _("concurrency group"),
        max_length=100,
        blank=True,
        default="",
        db_default="",
        validators=[validate_text],
        help_text=_(
            "Jobs with the same group share its limit of runs at once (1 for a new name; "
            "set it under Concurrency groups), e.g. “warehouse”. Empty: no group."
        ),
    )
    code_status = models.CharField(
        _("in code"),
        max_length=10,
        choices=CodeStatus.choices,
        blank=True,
        default=CodeStatus.TABLE,
        db_default=CodeStatus.TABLE,  # rows that processes of an older release insert
        editable=False,
        help_text=_(
            "Whether this job is declared in code. Code owns the fields of a declared job: "
            "change them there, and “manage.py tablecron sync” writes them here."
        ),
    )
    notify = models.BooleanField(
        _("notify"),
        default=False,
        db_default=False,  # so that rows inserted by SQL of their own (bench/) need not name it
        help_text=_(
            "Tell people when a run fails, times out, is lost or missed, and when the job "
            "recovers: once per change."
        ),
    )
    notify_emails = models.TextField(
        _("e-mail recipients"),
        blank=True,
        default="",
        db_default="",
        validators=[validate_emails, validate_text],
        help_text=_("Addresses separated by commas. Empty: the site's ADMINS."),
    )
    notify_webhook = models.URLField(
        _("webhook"),
        max_length=500,
        blank=True,
        default="",
        db_default="",
        validators=[validate_webhook, validate_text],
        help_text=_(
            "Also POST each notification here as JSON (Slack's incoming webhooks take it)."
        ),
    )
    alert_after = models.DurationField(
        _("alert if no success within"),
        null=True,
        blank=True,
        validators=[validate_duration],
        help_text=_(
            "A dead man's switch: alert when the job has not succeeded for this long, even "
            "when no scheduler runs it, e.g. “1 00:00:00” for a day. Empty: never."
        ),
    )
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True, editable=False)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True, editable=False)
    last_status = models.CharField(
        _("last status"),
        max_length=20,
        choices=RunStatus.choices,
        blank=True,
        editable=False,
    )
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True, editable=False)
    alert_state = models.CharField(
        _("alert state"),
        max_length=20,
        choices=AlertState.choices,
        default=AlertState.OK,
        db_default=AlertState.OK,
        editable=False,
    )
    alerted_at = models.DateTimeField(_("last notified"), null=True, blank=True, editable=False)
    version = models.PositiveBigIntegerField(_("version"), default=0, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects: ClassVar[JobQuerySet] = JobQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ["name"]
        # Beside add/change/delete/view: an operator may run jobs now, or pause and resume
        # them, without editing them. change_job pauses and resumes too (it can untick
        # "enabled" anyway); it does not run a job now.
        permissions = [
            ("run_job", _("Can run job now")),
            ("pause_job", _("Can pause and resume job")),
        ]
        # next_run_at leads: paused rows have none, and SQLite cannot range-scan behind a
        # leading boolean that Django 5.2 renders as a bare "WHERE enabled AND ...".
        indexes = [models.Index(fields=["next_run_at", "enabled"], name="tablecron_job_due")]
        constraints = [
            models.CheckConstraint(
                condition=~(~Q(cron="") & Q(interval__isnull=False))
                & ~(~Q(cron="") & Q(run_at__isnull=False))
                & ~(Q(interval__isnull=False) & Q(run_at__isnull=False)),
                name="tablecron_job_one_schedule_kind",
                violation_error_message=_(
                    "Choose one kind of schedule: a cron expression, an interval or a single "
                    "run time."
                ),
            ),
            models.CheckConstraint(
                condition=Q(after__isnull=True)
                | (Q(cron="") & Q(interval__isnull=True) & Q(run_at__isnull=True)),
                name="tablecron_job_after_or_times",
                violation_error_message=_(
                    "Choose one kind of schedule: a cron expression, an interval, a single "
                    "run time, or a job to run after."
                ),
            ),
            models.CheckConstraint(
                condition=Q(interval__isnull=True) | Q(interval__gte=schedules.MIN_INTERVAL),
                name="tablecron_job_interval_positive",
                violation_error_message=_("Enter an interval of at least one second."),
            ),
            models.CheckConstraint(
                condition=Q(start_at__isnull=True)
                | Q(end_at__isnull=True)
                | Q(end_at__gt=F("start_at")),
                name="tablecron_job_end_after_start",
                violation_error_message=_("The end must be later than the start."),
            ),
            models.CheckConstraint(
                condition=_non_negative("jitter")
                & _non_negative("misfire_grace")
                & _non_negative("retry_delay")
                & (Q(timeout__isnull=True) | Q(timeout__gt=timedelta(0))),
                name="tablecron_job_durations_positive",
                violation_error_message=_("Durations cannot be negative."),
            ),
            models.CheckConstraint(
                condition=Q(max_instances__gte=1),
                name="tablecron_job_max_instances_positive",
            ),
            models.CheckConstraint(
                condition=Q(alert_after__isnull=True) | Q(alert_after__gt=timedelta(0)),
                name="tablecron_job_alert_after_positive",
                violation_error_message=_("Enter a time longer than zero."),
            ),
        ]

    _loaded_schedule: tuple[Any, ...] | None = None
    _loaded_values: dict[str, Any] | None = None

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            update_fields = set(update_fields)
        elif not self._state.adding and self._loaded_schedule is not None:
            # A full save of a loaded row writes what a person edits, never the scheduler's
            # columns as they were read: the scheduler may have advanced them since.
            editable = {f.name for f in self._meta.concrete_fields if not f.primary_key}
            update_fields = editable.difference(SCHEDULER_FIELDS, self.get_deferred_fields())
        write = self._write(update_fields) if _watched() else None
        changes = self.schedule_changes()
        if update_fields is not None:
            changes &= update_fields
        scheduled = self._reschedule(changes)
        if scheduled and not self._state.adding:
            self.version = F("version") + 1
        if update_fields is not None:
            if scheduled:
                update_fields |= {"next_run_at", "version"}
            if update_fields.difference(SCHEDULER_FIELDS):
                update_fields.add("updated_at")
            kwargs["update_fields"] = update_fields
        super().save(*args, **kwargs)
        ensure_groups([self.concurrency_group], using=self._state.db)
        self._written()
        if write is not None:
            _report(self._state.db, [write._replace(pk=self.pk)])

    # -- change tracking -------------------------------------------------------------

    @classmethod
    def from_db(
        cls, db: str | None, field_names: Collection[str], values: Collection[Any], **kwargs: Any
    ) -> Self:
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._remember_loaded()
        return instance

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        self._remember_loaded()

    def _written(self) -> None:
        """After a write: a version bumped in SQL is read back when next used, and the
        schedule as stored is what later changes are measured against."""
        if isinstance(self.__dict__.get("version"), CombinedExpression):
            del self.__dict__["version"]  # deferred: read back on next access
        self._remember_loaded()

    def _remember_loaded(self) -> None:
        deferred = self.get_deferred_fields()
        if deferred.isdisjoint(SCHEDULE_FIELDS):
            self._loaded_schedule = self.schedule_state()
        if _watched():  # what the audit trail compares the next write with
            names = [name for name in audited_fields() if name not in deferred]
            self._loaded_values = copy.deepcopy({name: getattr(self, name) for name in names})

    def _write(self, fields: Collection[str] | None = None) -> JobWrite | None:
        """What writing ``fields`` (all of them if None) changes, for the audit trail: None
        if nothing a person edits. A row not read from the database had no values before."""
        deferred = self.get_deferred_fields()
        names = [
            name
            for name in audited_fields()
            if (fields is None or name in fields) and name not in deferred
        ]
        if self._state.adding:
            changes = {name: (None, getattr(self, name)) for name in names}
            return JobWrite(self.pk, self.name, "added", changes)
        loaded = self._loaded_values or {}
        changes = {
            name: (loaded.get(name), getattr(self, name))
            for name in names
            if name not in loaded or loaded[name] != getattr(self, name)
        }
        return JobWrite(self.pk, self.name, "changed", changes) if changes else None

    def schedule_state(self) -> tuple[Any, ...]:
        """The schedule fields' values, in the order of ``SCHEDULE_FIELDS``."""
        return tuple(getattr(self, name) for name in SCHEDULE_FIELDS)

    def schedule_changes(self) -> set[str]:
        """The schedule fields that differ from the row as loaded (all of them if new)."""
        if self._state.adding or self._loaded_schedule is None:
            return set(SCHEDULE_FIELDS)
        now = self.schedule_state()
        return {
            n
            for n, old, new in zip(SCHEDULE_FIELDS, self._loaded_schedule, now, strict=True)
            if old != new
        }

    def _reschedule(self, changed: Collection[str], now: datetime | None = None) -> bool:
        """Recompute ``next_run_at`` for a write of the fields ``changed``, if any of them
        is a schedule field; True if so (the write then stores it, with a new version).

        The one rule of every write path: ``save()``, and ``JobQuerySet``'s ``update()``,
        ``bulk_update()`` and ``bulk_create()``.
        """
        if not any(name in changed for name in SCHEDULE_FIELDS):
            return False
        self.next_run_at = self.compute_next_run_at(now, run_at_changed="run_at" in changed)
        return True

    # -- schedule ----------------------------------------------------------------------

    def get_schedule(self) -> schedules.Schedule | None:
        """The schedule the fields describe; a ValidationError on the guilty field if none."""
        try:
            return schedule_of(self)
        except InvalidSchedule as exc:
            raise ValidationError({exc.field: exc.message}, code="schedule") from None

    def compute_next_run_at(
        self, now: datetime | None = None, *, run_at_changed: bool = False
    ) -> datetime | None:
        """When the job fires next, counting from ``now``.

        A paused or manual-only job has no next run. A one-off whose ``run_at`` was just
        set fires at ``run_at`` even if that is already past (it is then due at once).
        """
        if not self.enabled:
            return None
        schedule = self.get_schedule()
        if schedule is None:
            return None
        after = now or timezone.now()
        if run_at_changed and self.run_at is not None:
            after = min(after, self.run_at - timedelta(microseconds=1))
        return schedule.next_after(after)

    def fires_at_once(self, now: datetime | None = None) -> bool:
        """Whether saving the job as it is now makes it due at once: its schedule changed
        (or it is new) and its next fire time, as the write would compute it, is at or
        before ``now`` (a one-off whose ``run_at`` has come). Such a write runs the job as
        "run now" does, so the admin and the API ask for ``run_job`` for it. An invalid
        schedule fires nothing (its validation says why)."""
        now = now or timezone.now()
        saved = copy.copy(self)  # as saving the edits would leave it, without saving them
        try:
            rescheduled = saved._reschedule(self.schedule_changes(), now)
        except ValidationError:
            return False
        return rescheduled and saved.next_run_at is not None and saved.next_run_at <= now

    def upcoming(self, count: int = 5, now: datetime | None = None) -> list[datetime]:
        """The next ``count`` fire times, for a saved or an unsaved (or edited) job."""
        schedule = self.get_schedule()
        if schedule is None or not self.enabled:
            return []
        saved = copy.copy(self)  # as saving the edits would leave it, without saving them
        saved._reschedule(self.schedule_changes(), now)
        return list(schedules.upcoming(schedule, saved.next_run_at, count))

    @classmethod
    def upcoming_for(cls, count: int = 5, **fields: Any) -> list[datetime]:
        """The next ``count`` fire times of the schedule ``fields`` describe; stores nothing.

        Only the fields given are validated (a ``ValidationError`` names the guilty one),
        so a form or an API can list them before the rest of the job is filled in.
        """
        job = cls(**fields)
        job.full_clean(exclude={f.name for f in cls._meta.fields} - set(fields))
        return job.upcoming(count)

    # -- validation --------------------------------------------------------------------

    @property
    def registered_task(self) -> RegisteredTask | None:
        """The task this row names, or None when this process does not know it."""
        try:
            return tasks.get(self.task)
        except UnknownTask:
            return None

    def clean_fields(self, exclude: Collection[str] | None = None) -> None:
        # Refused first, values that break Django's own cleaning of their field: arguments
        # nested so deep that JSONField.validate() exhausts the stack serialising them, and
        # durations as text beyond Python's (DurationField.to_python() overflows).
        errors: dict[str, list[str]] = {}
        for field in self._meta.concrete_fields:
            value = getattr(self, field.attname)
            if field.name in (exclude or ()):
                continue
            try:
                if isinstance(field, models.JSONField):
                    validate_json_depth(value)
                elif isinstance(field, models.DurationField) and isinstance(value, str):
                    parse_duration(value)
            except ValidationError as exc:
                errors[field.name] = exc.messages
            except OverflowError:
                errors[field.name] = [
                    gettext("Enter a duration of at most %(days)d days.")
                    % {"days": schedules.MAX_DURATION.days}
                ]
        try:
            super().clean_fields(exclude={*(exclude or ()), *errors})
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if errors:
            raise ValidationError(errors)

    def clean(self) -> None:
        errors = self._nulls()
        # The rules between fields, for fields that are valid alone: a value refused
        # already is not checked again, nor quoted back in another message.
        if self._valid_alone(*schedules.FIELDS, *CALENDAR_FIELDS):
            try:
                self.get_schedule()
            except ValidationError as exc:
                errors.update(exc.message_dict)
        if "after" not in errors and self._valid_alone("after"):
            errors.update(after_errors(self))
        # isinstance: a value clean_fields() refused is left as it was typed.
        for name in ("jitter", "misfire_grace", "retry_delay"):
            value = getattr(self, name)
            if isinstance(value, timedelta) and value < timedelta(0):
                errors.setdefault(name, []).append(gettext("Durations cannot be negative."))
        if isinstance(self.timeout, timedelta) and self.timeout <= timedelta(0):
            errors.setdefault("timeout", []).append(gettext("Enter a timeout longer than zero."))
        if isinstance(self.alert_after, timedelta) and self.alert_after <= timedelta(0):
            errors.setdefault("alert_after", []).append(gettext("Enter a time longer than zero."))
        if self.notify_webhook and self._valid_alone("notify_webhook"):
            try:
                validate_webhook_address(self.notify_webhook)
            except ValidationError as exc:
                errors["notify_webhook"] = exc.messages
        if self._renamed_in_code():
            errors["name"] = [
                gettext(
                    "This job is declared in code, under this name: rename it there. "
                    "(“manage.py tablecron sync” would make a new job of the old name.)"
                )
            ]
        if self.queue and self._valid_alone("queue"):
            try:
                check_queue_accepted(self.queue)
            except ValidationError as exc:
                errors["queue"] = exc.messages
        task = None
        if self._valid_alone("task"):
            try:
                task = tasks.get(self.task)
            except RefusedTask as exc:
                errors["task"] = [
                    gettext(
                        "“%(name)s” runs whatever code or command its arguments name (it is "
                        "%(gateway)s), so it is never scheduled. Choose a registered task."
                    )
                    % {"name": self.task, "gateway": exc.gateway}
                ]
            except UnknownTask:
                errors["task"] = [
                    gettext("“%(name)s” is not a registered task. Choose one of: %(known)s.")
                    % {"name": self.task, "known": ", ".join(t.name for t in tasks) or "-"}
                ]
        if task and validate_args.is_valid(self.args) and validate_kwargs.is_valid(self.kwargs):
            try:
                task.check_arguments(self.args, self.kwargs)
            except ValidationError as exc:
                errors.update(exc.message_dict)
        if errors:
            raise ValidationError(errors)

    def _renamed_in_code(self) -> bool:
        """Whether this row, which code declares, is being renamed: code owns the name,
        which is the declaration's key."""
        if self._state.adding or self.code_status != CodeStatus.DECLARED:
            return False
        stored = Job.objects.using(self._state.db).filter(pk=self.pk).values_list("name")
        return stored.first() not in (None, (self.name,))

    def _nulls(self) -> dict[str, list[str]]:
        """None where the column refuses it but blank lets clean_fields() pass it."""
        return {
            field.name: [str(field.error_messages["null"])]
            for field in self._meta.concrete_fields
            if field.editable and field.blank and not field.null and not field.primary_key
            if getattr(self, field.attname) is None
        }

    def _valid_alone(self, *names: str) -> bool:
        """True if each field ``names`` holds a value its own validation accepts."""
        for field in self._meta.concrete_fields:
            if field.name not in names:
                continue
            try:
                field.clean(getattr(self, field.attname), self)
            except (ValidationError, OverflowError):  # see clean_fields()
                return False
        return True

    def pause(self) -> None:
        """Stop firing; the row stays and ``next_run_at`` is cleared."""
        self.enabled = False
        self.save(update_fields=["enabled"])

    def resume(self) -> None:
        """Fire again, from now on."""
        self.enabled = True
        self.save(update_fields=["enabled"])

    def run_now(
        self,
        *,
        args: list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        rerun_of: JobRun | None = None,
        ignore_max_instances: bool = False,
    ) -> JobRun:
        """Ask the scheduler to run this job once, now; ``next_run_at`` does not move.
        ``args``/``kwargs``, if given, replace the job's for this run only: they are
        checked against the task's signature as the job's own are (a ``ValidationError``
        on the field), and the job is not changed. ``rerun_of``: the run this one repeats
        (``JobRun.rerun()``).

        At most ``MANUAL_RUNS_PER_JOB`` manual runs of a job wait or run at once: beyond,
        ``TooManyRuns``. A manual run waits while its job's ``max_instances`` runs are
        running, unless ``ignore_max_instances``."""
        if args is not None or kwargs is not None:
            self._check_run_arguments(args, kwargs)
        using = self._state.db or router.db_for_write(Job)
        with transaction.atomic(using=using):
            # Two requests at once must not both find room: the job's row is the lock.
            list(Job.objects.using(using).filter(pk=self.pk)._locked().values_list("pk"))
            self._check_manual_runs(using)
            now = timezone.now()
            run = JobRun.objects.using(using).create(
                job=self,
                job_name=self.name,
                scheduled_for=now,
                not_before=now,
                trigger=RunTrigger.MANUAL,
                status=RunStatus.SCHEDULED,
                args=args,
                kwargs=kwargs,
                rerun_of=rerun_of,
                ignore_max_instances=ignore_max_instances,
            )
        if _watched():
            action = "rerun" if rerun_of else "run_now"
            changes = {  # the job's arguments and this run's, where they differ
                name: (getattr(self, name), value)
                for name, value in (("args", args), ("kwargs", kwargs))
                if value is not None and value != getattr(self, name)
            }
            _report(run._state.db, [JobWrite(self.pk, self.name, action, changes, run.pk)])
        return run

    def _check_manual_runs(self, using: str) -> None:
        """``TooManyRuns`` if this job has ``MANUAL_RUNS_PER_JOB`` manual runs not ended."""
        limit = tablecron_settings.MANUAL_RUNS_PER_JOB
        waiting = JobRun.objects.using(using).filter(job=self).manual_waiting_or_running()
        if waiting.count() >= limit:
            raise TooManyRuns(
                gettext(
                    "“%(name)s” was not run: it has %(count)d manual runs waiting or running "
                    "already, the most allowed (MANUAL_RUNS_PER_JOB). Run it again when one "
                    "has ended."
                )
                % {"name": self.name, "count": limit},
                self.name,
                limit,
            )

    def _check_run_arguments(self, args: list[Any] | None, kwargs: dict[str, Any] | None) -> None:
        """Arguments for one run, validated as the job's own fields would be."""
        trial = Job(**{f.attname: getattr(self, f.attname) for f in self._meta.concrete_fields})
        trial.args = self.args if args is None else args
        trial.kwargs = self.kwargs if kwargs is None else kwargs
        trial.full_clean(
            exclude={f.name for f in self._meta.fields} - {"task", "args", "kwargs"},
            validate_unique=False,
            validate_constraints=False,
        )


@functools.cache
def audited_fields() -> tuple[str, ...]:
    """The fields a person edits: what the audit trail records changes of."""
    return tuple(
        field.attname
        for field in Job._meta.concrete_fields
        if field.editable and not field.primary_key
    )
