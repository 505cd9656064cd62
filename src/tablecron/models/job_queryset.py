"""``JobQuerySet``: the ORM paths that write many jobs at once, each keeping
``next_run_at`` true in the same transaction (see ``models.job``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connections, models, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from tablecron import schedules
from tablecron.models import job_audit
from tablecron.models.calendar import CALENDAR_FIELDS

if TYPE_CHECKING:
    from tablecron.models.job import Job

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
        watched = job_audit.watched(self.model)
        writes = [obj._write() if watched else None for obj in objs]
        created = super().bulk_create(objs, *args, **kwargs)
        for obj in created:
            obj._written()
        job_audit.report(
            self.model,
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
        watched = [name for name in job_audit.audited_fields(self.model) if name in kwargs]
        if not watched or not job_audit.watched(self.model):
            return self._update(kwargs)
        with transaction.atomic(using=self.db):
            fields = list(dict.fromkeys(["name", *watched]))
            rows_before = self._locked().order_by().values_list("pk", *fields)
            before = {pk: values for pk, *values in rows_before}
            rows = self._update(kwargs)
            plain: models.QuerySet[Job] = models.QuerySet(self.model, using=self.db)
            writes = job_audit.updated_writes(plain, before, fields, watched)
            job_audit.report(self.model, self.db, writes)
        return rows

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
