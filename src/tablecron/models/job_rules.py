"""The rules a job's values keep beyond each column's type, each stated once: the database
holds them (``CheckConstraint``), and ``clean()`` reports them on the guilty field, in the
same words.

The rules between the schedule's fields are checked in Python by ``schedules`` (which
words them); the constraints here only repeat their condition in SQL, with its message.
"""

from __future__ import annotations

import functools
import operator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from tablecron import schedules
from tablecron.models import chain

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

NEGATIVE = _("Durations cannot be negative.")


class Bound(NamedTuple):
    """A duration field that is empty or at least (``zero_allowed``) or above zero."""

    field: str
    message: StrPromise
    zero_allowed: bool = True

    def condition(self) -> Q:
        lookup = "gte" if self.zero_allowed else "gt"
        return Q(**{f"{self.field}__isnull": True}) | Q(**{f"{self.field}__{lookup}": ZERO})

    def broken_by(self, value: Any) -> bool:
        # isinstance: a value clean_fields() refused is left as it was typed.
        if not isinstance(value, timedelta):
            return False
        return value < ZERO if self.zero_allowed else value <= ZERO


ZERO = timedelta(0)
DURATIONS = (
    Bound("jitter", NEGATIVE),
    Bound("misfire_grace", NEGATIVE),
    Bound("retry_delay", NEGATIVE),
    Bound("timeout", _("Enter a timeout longer than zero."), zero_allowed=False),
)
ALERT_AFTER = Bound("alert_after", _("Enter a time longer than zero."), zero_allowed=False)


def bounds_broken(job: Any) -> dict[str, list[str]]:
    """The duration bounds ``job`` breaks: field -> messages."""
    return {
        bound.field: [str(bound.message)]
        for bound in (*DURATIONS, ALERT_AFTER)
        if bound.broken_by(getattr(job, bound.field))
    }


def _all(conditions: list[Q]) -> Q:
    return functools.reduce(operator.and_, conditions)


CONSTRAINTS: list[models.BaseConstraint] = [
    models.CheckConstraint(
        condition=~(~Q(cron="") & Q(interval__isnull=False))
        & ~(~Q(cron="") & Q(run_at__isnull=False))
        & ~(Q(interval__isnull=False) & Q(run_at__isnull=False)),
        name="tablecron_job_one_schedule_kind",
        violation_error_message=schedules.ONE_KIND,
    ),
    models.CheckConstraint(
        condition=Q(after__isnull=True)
        | (Q(cron="") & Q(interval__isnull=True) & Q(run_at__isnull=True)),
        name="tablecron_job_after_or_times",
        violation_error_message=chain.ONE_KIND,
    ),
    models.CheckConstraint(
        condition=Q(interval__isnull=True) | Q(interval__gte=schedules.MIN_INTERVAL),
        name="tablecron_job_interval_positive",
        violation_error_message=schedules.INTERVAL_TOO_SHORT,
    ),
    models.CheckConstraint(
        condition=Q(start_at__isnull=True) | Q(end_at__isnull=True) | Q(end_at__gt=F("start_at")),
        name="tablecron_job_end_after_start",
        violation_error_message=schedules.END_BEFORE_START,
    ),
    models.CheckConstraint(
        condition=_all([bound.condition() for bound in DURATIONS]),
        name="tablecron_job_durations_positive",
        violation_error_message=NEGATIVE,
    ),
    models.CheckConstraint(
        condition=Q(max_instances__gte=1),
        name="tablecron_job_max_instances_positive",
    ),
    models.CheckConstraint(
        condition=ALERT_AFTER.condition(),
        name="tablecron_job_alert_after_positive",
        violation_error_message=ALERT_AFTER.message,
    ),
]
