"""Job queries, and the ORM paths that write many rows at once.

Django's bulk paths (``bulk_create``, ``update``, ``bulk_update``) skip ``Model.save()``,
which is where other schedulers hang their hooks and lose edits. Here each of them
recomputes ``next_run_at`` itself, in the same transaction as the write.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connections, models, transaction
from django.db.models import F
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Now
from django.utils import timezone

if TYPE_CHECKING:
    from tablecron.models import Job

# Writing any of these moves the job's next fire time.
SCHEDULE_FIELDS = frozenset(
    {"cron", "interval", "run_at", "timezone", "start_at", "end_at", "enabled"}
)
# Columns the package keeps; a person's full save() never writes back stale copies.
SCHEDULER_FIELDS = frozenset({"next_run_at", "last_run_at", "last_status", "version"})

_CHUNK = 500


class JobQuerySet(models.QuerySet["Job"]):
    def due(self, now: datetime | None = None) -> JobQuerySet:
        """Enabled jobs whose next run is at or before ``now`` (the database's clock)."""
        return self.filter(enabled=True, next_run_at__lte=now or Now()).order_by("next_run_at")

    def bulk_create(self, objs: Iterable[Job], *args: Any, **kwargs: Any) -> list[Job]:
        objs = list(objs)
        now = timezone.now()
        for obj in objs:
            obj.next_run_at = obj.compute_next_run_at(now, run_at_changed=True)
        update_fields = kwargs.get("update_fields")
        if update_fields and SCHEDULE_FIELDS & set(update_fields):
            kwargs["update_fields"] = [*update_fields, "next_run_at"]
        created = super().bulk_create(objs, *args, **kwargs)
        for obj in created:
            obj._remember_schedule()
        return created

    def bulk_update(
        self, objs: Iterable[Job], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        objs = list(objs)
        fields = list(fields)
        if SCHEDULE_FIELDS & set(fields):
            now = timezone.now()
            for obj in objs:
                changes = obj.schedule_changes() & set(fields)
                if changes:
                    run_at_changed = "run_at" in changes
                    obj.next_run_at = obj.compute_next_run_at(now, run_at_changed=run_at_changed)
                obj.version = F("version") + 1
            fields += ["next_run_at", "version"]
        if set(fields) - SCHEDULER_FIELDS:
            now = timezone.now()
            for obj in objs:
                obj.updated_at = now
            fields.append("updated_at")
        rows = super().bulk_update(objs, fields, batch_size=batch_size)
        for obj in objs:
            if isinstance(obj.__dict__.get("version"), CombinedExpression):
                del obj.__dict__["version"]  # deferred: read back on next access
            obj._remember_schedule()
        return rows

    def update(self, **kwargs: Any) -> int:
        if kwargs.keys() - SCHEDULER_FIELDS:
            kwargs.setdefault("updated_at", Now())
        touched = SCHEDULE_FIELDS & kwargs.keys()
        if not touched:
            return super().update(**kwargs)
        kwargs["version"] = F("version") + 1
        if touched == {"enabled"} and kwargs["enabled"] is False:
            return super().update(next_run_at=None, **kwargs)  # pausing needs no schedule
        with transaction.atomic(using=self.db):
            before = dict(self._locked_schedules())
            rows = super().update(**kwargs)
            self._reschedule(before)
        return rows

    def _locked_schedules(self) -> Iterable[tuple[Any, tuple[Any, ...]]]:
        fields = sorted(SCHEDULE_FIELDS)
        locking = connections[self.db].features.has_select_for_update
        query = self.select_for_update() if locking else self
        for pk, *values in query.order_by().values_list("pk", *fields):
            yield pk, tuple(values)

    def _reschedule(self, before: dict[Any, tuple[Any, ...]]) -> None:
        """After an update, recompute ``next_run_at`` of the rows whose schedule changed."""
        fields = sorted(SCHEDULE_FIELDS)
        plain: models.QuerySet[Job] = models.QuerySet(self.model, using=self.db)  # no overrides
        pks = list(before)
        now = timezone.now()
        for start in range(0, len(pks), _CHUNK):
            changed = []
            for job in plain.filter(pk__in=pks[start : start + _CHUNK]):
                old = dict(zip(fields, before[job.pk], strict=True))
                if any(getattr(job, name) != old[name] for name in fields):
                    run_at_changed = job.run_at != old["run_at"]
                    job.next_run_at = job.compute_next_run_at(now, run_at_changed=run_at_changed)
                    changed.append(job)
            plain.bulk_update(changed, ["next_run_at"])
