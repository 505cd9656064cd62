"""The job form: a choice of registered tasks with their signatures and docstrings, the
kind of schedule picked with a radio button, and the schedule's fields parsed on their own
for the live list of upcoming fire times.

Validation stays on the model (``full_clean``), which names the field at fault; the form
only turns its errors into field errors, like any ``ModelForm``.
"""

from __future__ import annotations

import functools
import inspect
import zoneinfo
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from tablecron.exceptions import TooManyRuns
from tablecron.models import Job
from tablecron.models.job_queryset import SCHEDULE_FIELDS
from tablecron.registry import RegisteredTask, tasks
from tablecron.secrets import unmask


class ScheduleKind(models.TextChoices):
    CRON = "cron", _("Cron expression")
    INTERVAL = "interval", _("Interval")
    ONCE = "once", _("Once")
    AFTER = "after", _("After another job")
    MANUAL = "manual", _("Manual only")


# The field each kind of schedule uses; the others are cleared when the form is saved.
KIND_FIELDS: dict[str, str] = {
    ScheduleKind.CRON: "cron",
    ScheduleKind.INTERVAL: "interval",
    ScheduleKind.ONCE: "run_at",
    ScheduleKind.AFTER: "after",
}
# The fields the form's preview of upcoming fire times (and words) reads.
PREVIEW_FIELDS = (*SCHEDULE_FIELDS, "after")
MISSING = {
    ScheduleKind.CRON: _("Enter a cron expression, or choose another kind of schedule."),
    ScheduleKind.INTERVAL: _("Enter an interval, or choose another kind of schedule."),
    ScheduleKind.ONCE: _("Enter when to run, or choose another kind of schedule."),
    ScheduleKind.AFTER: _("Choose the job to run after, or choose another kind of schedule."),
}


def kind_of(job: Job) -> str:
    if job.cron:
        return ScheduleKind.CRON
    if job.interval is not None:
        return ScheduleKind.INTERVAL
    if job.run_at is not None:
        return ScheduleKind.ONCE
    if job.after_id is not None:
        return ScheduleKind.AFTER
    return ScheduleKind.MANUAL


def task_info(task: RegisteredTask) -> dict[str, str]:
    """What the form shows about a task: its call signature and its whole docstring."""
    return {
        "signature": f"{task.name}{task.signature}",
        "doc": inspect.getdoc(task.func) or task.description,
    }


class TaskSelect(forms.Select):
    """A select of task names, with the chosen task's signature and docstring below it;
    a small script swaps them when the choice changes."""

    template_name = "tablecron/widgets/task_select.html"

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        info = {task.name: task_info(task) for task in tasks}
        context["tasks_info"] = info
        context["task_info_id"] = f"{context['widget']['attrs'].get('id', name)}_tasks"
        context["current"] = info.get(value or "")
        return context


class TimeZoneInput(forms.TextInput):
    """A text input that suggests the IANA zone names as you type (an HTML datalist)."""

    template_name = "tablecron/widgets/timezone_input.html"

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        attrs = {**(attrs or {}), "list": f"{(attrs or {}).get('id', name)}_zones"}
        context = super().get_context(name, value, attrs)
        context["zones"] = _zones()
        return context


@functools.cache
def _zones() -> list[str]:
    return sorted(zoneinfo.available_timezones())


class WebhookField(forms.URLField):
    """A URL typed without a scheme is read as https://, as Django 6 does by default
    (Django 5.2 warns unless told)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(assume_scheme="https", **kwargs)


class JobForm(forms.ModelForm):  # type: ignore[type-arg]
    schedule_kind = forms.ChoiceField(
        label=_("Kind of schedule"),
        choices=ScheduleKind.choices,
        initial=ScheduleKind.CRON,
        widget=forms.RadioSelect(attrs={"class": "tablecron-kinds"}),
        help_text=_("A manual-only job runs when someone starts it with “Run now”."),
    )

    # Whether the person may run jobs now (``run_job``): a job this form makes due at once
    # runs now. JobAdmin.get_form() sets it for the request; no one may, unless told.
    may_run = False

    class Media:
        js = ["tablecron/job_form.js"]

    class Meta:
        model = Job
        fields = [
            field.name for field in Job._meta.fields if field.editable and not field.primary_key
        ]
        field_classes = {"notify_webhook": WebhookField}
        widgets = {
            "args": forms.Textarea(attrs={"rows": 2, "class": "vLargeTextField tablecron-code"}),
            "kwargs": forms.Textarea(attrs={"rows": 3, "class": "vLargeTextField tablecron-code"}),
            "cron": forms.TextInput(
                attrs={"class": "vTextField tablecron-code", "placeholder": "0 9 * * 1"}
            ),
            "timezone": TimeZoneInput(attrs={"class": "vTextField", "autocomplete": "off"}),
            "interval": forms.TextInput(attrs={"class": "vTextField", "placeholder": "00:15:00"}),
            "description": forms.Textarea(attrs={"rows": 2, "class": "vLargeTextField"}),
            "notify_emails": forms.Textarea(
                attrs={"rows": 2, "class": "vLargeTextField", "placeholder": "ops@example.com"}
            ),
            "alert_after": forms.TextInput(
                attrs={"class": "vTextField", "placeholder": "1 00:00:00"}
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "task" in self.fields:
            self.fields["task"] = self._task_field()
        if not self.is_bound and self.instance.pk is not None:
            self.initial["schedule_kind"] = kind_of(self.instance)

    def _task_field(self) -> forms.ChoiceField:
        choices = [("", "---------"), *((task.name, task.name) for task in tasks)]
        current = self.instance.task
        if current and current not in tasks:
            # Keep a row whose task was removed from the code editable; the model's
            # validation then says that the task is not registered.
            choices.append((current, _("%(name)s (not registered)") % {"name": current}))
        return forms.ChoiceField(
            label=capfirst(Job._meta.get_field("task").verbose_name),
            choices=choices,
            widget=TaskSelect,
            help_text=Job._meta.get_field("task").help_text,
        )

    def clean_args(self) -> Any:
        value = self.cleaned_data.get("args")
        return [] if value is None else value

    def clean_kwargs(self) -> Any:
        value = self.cleaned_data.get("kwargs")
        return {} if value is None else value

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        kind = cleaned.get("schedule_kind")
        if kind is None:
            return cleaned
        for other, name in KIND_FIELDS.items():
            if other != kind and name in self.fields:
                # The other kinds' fields are hidden: drop what they hold, errors included.
                cleaned[name] = "" if name == "cron" else None
                self.errors.pop(name, None)
        used = KIND_FIELDS.get(kind)
        if used in self.fields and used not in self.errors and cleaned.get(used) in ("", None):
            self.add_error(used, MISSING[kind])
        return cleaned

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # the model's validation, on self.instance
        if not self.may_run and self.instance.fires_at_once():
            self.add_error(
                "run_at" if "run_at" in self.fields and self.instance.run_at else None,
                _(
                    "This time has come: saving would run the job now, and you may not run "
                    "jobs now. Choose a later time."
                ),
            )

    def schedule_values(self) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """The schedule fields as typed, each parsed by its own form field, with the other
        kinds' fields cleared: for the upcoming fire times of a form that may not be valid
        as a whole."""
        kind = self["schedule_kind"].data
        if kind not in ScheduleKind.values:
            kind = ScheduleKind.CRON
        values: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for name in PREVIEW_FIELDS:
            if name in KIND_FIELDS.values() and name != KIND_FIELDS.get(kind):
                values[name] = "" if name == "cron" else None
                continue
            try:
                values[name] = self.fields[name].clean(self[name].data)
            except ValidationError as exc:
                errors[name] = exc.messages
        return values, errors


class RunNowForm(forms.Form):
    """Arguments for one run of a job ("Run now with…"), as JSON, filled in with the job's.
    The model checks them against the task's signature (``Job.run_now()``); its errors are
    put on these fields."""

    args = forms.JSONField(
        label=_("Positional arguments"),
        required=False,
        help_text=_('A JSON list, e.g. [1, "two"]. Empty: none.'),
        widget=forms.Textarea(attrs={"rows": 2, "class": "vLargeTextField tablecron-code"}),
    )
    kwargs = forms.JSONField(
        label=_("Keyword arguments"),
        required=False,
        help_text=_('A JSON object, e.g. {"days": 7}. Empty: none.'),
        widget=forms.Textarea(attrs={"rows": 3, "class": "vLargeTextField tablecron-code"}),
    )

    def clean_args(self) -> Any:
        value = self.cleaned_data.get("args")
        return [] if value is None else value

    def clean_kwargs(self) -> Any:
        value = self.cleaned_data.get("kwargs")
        return {} if value is None else value

    def run(self, job: Job) -> Any:
        """The new run, or None with the model's errors on the form's fields. A value left
        masked (the form shows secrets masked to people who may not change jobs) runs
        with the job's own (``tablecron.secrets.unmask``)."""
        args = unmask(self.cleaned_data["args"], job.args)
        kwargs = unmask(self.cleaned_data["kwargs"], job.kwargs)
        try:
            return job.run_now(args=args, kwargs=kwargs)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                self.add_error(name if name in self.fields else None, messages)
        except TooManyRuns as exc:
            self.add_error(None, exc.message)
        return None
