"""Working-day calendars: ``Job.calendar`` names either a country (with an optional
subdivision) as python-holidays knows it, "CN", "US-CA", "DE-BY", or a ``Calendar`` kept
in the admin: a base country or none, with days off and working days of its own.

Editing a calendar, or one of its days, reschedules the enabled jobs that use it in the
same transaction, through ``Job.objects.update()``'s own rescheduling.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tablecron import schedules, workdays
from tablecron.exceptions import InvalidSchedule
from tablecron.validators import validate_text

# The fields of a ``Job`` that choose its working days.
CALENDAR_FIELDS = ("calendar", "calendar_rule", "calendar_day")


class CalendarRule(models.TextChoices):
    SKIP = "skip", _("skip it")
    NEXT = "next", _("next working day")
    PREVIOUS = "previous", _("previous working day")
    NTH = "nth", _("Nth working day of the month only")


def validate_country(code: str) -> None:
    try:
        workdays.split_code(code)
    except InvalidSchedule as exc:
        raise ValidationError(exc.message, code="calendar") from None


class CalendarQuerySet(models.QuerySet["Calendar"]):
    def delete(self) -> tuple[int, dict[str, int]]:
        refuse_deleting_used(list(self.values_list("name", flat=True)))
        return super().delete()


class Calendar(models.Model):
    name = models.CharField(
        _("name"),
        max_length=100,
        unique=True,
        validators=[validate_text],
        help_text=_("What jobs put in their calendar field, e.g. “plant-shanghai”."),
    )
    country = models.CharField(
        _("based on"),
        max_length=100,
        blank=True,
        validators=[validate_country],
        help_text=_(
            "A country code with an optional subdivision, e.g. “CN”, “US-CA”, “DE-BY”: its "
            "weekend, holidays and make-up working days. Empty: every day is a working day."
        ),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = CalendarQuerySet.as_manager()

    class Meta:
        verbose_name = _("calendar")
        verbose_name_plural = _("calendars")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        with transaction.atomic(using=kwargs.get("using") or self._state.db):
            old = None
            if self.pk is not None:
                old = Calendar.objects.filter(pk=self.pk).values_list("name", flat=True).first()
            super().save(*args, **kwargs)
            if old is not None and old != self.name:  # the jobs follow their calendar
                jobs_using(old).update(calendar=self.name)
            else:
                reschedule_jobs(self.name)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        refuse_deleting_used([self.name])
        return super().delete(*args, **kwargs)

    def clean(self) -> None:
        if self.name in workdays.codes():
            raise ValidationError(
                {
                    "name": gettext("“%(name)s” is a country code; choose another name.")
                    % {"name": self.name}
                }
            )

    def working_days(self) -> workdays.WorkingDays:
        days = list(self.days.values_list("day", "kind"))
        return workdays.WorkingDays(
            self.country,
            frozenset(day for day, kind in days if kind == DayKind.OFF),
            frozenset(day for day, kind in days if kind == DayKind.WORKING),
        )


class DayKind(models.TextChoices):
    OFF = "off", _("day off")
    WORKING = "working", _("working day")


class CalendarDay(models.Model):
    calendar = models.ForeignKey(
        Calendar, on_delete=models.CASCADE, related_name="days", verbose_name=_("calendar")
    )
    day = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=10, choices=DayKind.choices)
    note = models.CharField(
        _("note"), max_length=200, blank=True, validators=[validate_text],
        help_text=_("Why, e.g. “shutdown week” or “Saturday shift”."),
    )  # fmt: skip

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "day"], name="tablecron_calendar_day")
        ]

    def __str__(self) -> str:
        return f"{self.day} ({self.get_kind_display()})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        with transaction.atomic(using=kwargs.get("using") or self._state.db):
            super().save(*args, **kwargs)
            reschedule_jobs(self.calendar.name)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        with transaction.atomic(using=kwargs.get("using") or self._state.db):
            deleted = super().delete(*args, **kwargs)
            reschedule_jobs(self.calendar.name)
        return deleted


def refuse_deleting_used(names: list[str]) -> None:
    """A calendar jobs use stays: they would no longer have a schedule."""
    used = list(jobs_using(*names)[:100])
    if used:
        raise models.ProtectedError(
            gettext("Calendars that jobs use cannot be deleted: %(jobs)s.")
            % {"jobs": ", ".join(job.name for job in used)},
            set(used),
        )


def jobs_using(*names: str) -> Any:
    from tablecron.models.job import Job

    return Job.objects.filter(calendar__in=names)


def reschedule_jobs(name: str) -> None:
    """Recompute ``next_run_at`` of the jobs that use the calendar ``name``."""
    jobs_using(name).reschedule()


def working_days(name: str) -> workdays.WorkingDays | None:
    """The working days ``Job.calendar`` names: none for "", a country's, or a custom
    calendar's (read from the database each time: a scheduler must see an edit at once);
    ``InvalidSchedule`` on ``calendar`` if it names none."""
    if not name:
        return None
    if name in workdays.codes():
        return workdays.WorkingDays(name)
    calendar = Calendar.objects.filter(name=name).first()
    if calendar is None:
        names = tuple(Calendar.objects.values_list("name", flat=True)[:1000])
        raise InvalidSchedule(workdays.unknown_message(name, names), "calendar")
    return calendar.working_days()


def schedule_of(source: Any) -> schedules.Schedule | None:
    """The schedule of a ``Job`` or a due row, with its calendar."""
    return schedules.build(
        **{name: getattr(source, name) for name in schedules.FIELDS},
        working_days=working_days(source.calendar),
        calendar_rule=source.calendar_rule,
        calendar_day=source.calendar_day,
    )
