"""Query filters (django-filter) of the job and run lists."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field

from tablecron.models import Job, JobRun, RunStatus, RunTrigger


class StrictBooleanField(forms.NullBooleanField):
    """true or false (1 or 0); empty for either. django-filter's own field reads any other
    value as "either" too, so a typo would silently list every job."""

    widget = forms.TextInput  # the value as sent, not mapped by a select's choices

    def to_python(self, value: Any) -> bool | None:  # type: ignore[override]
        if value in (None, ""):
            return None
        if value in (True, "true", "True", "1"):
            return True
        if value in (False, "false", "False", "0"):
            return False
        raise ValidationError(_("Enter true or false."), code="invalid")


class BooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


MAX_ID = 2**63 - 1  # the largest id a 64-bit primary key holds


class IdFilter(django_filters.NumberFilter):
    """A whole number that can be an id: django-filter's takes any decimal up to 1e50, which
    the database's integer cannot hold."""

    field_class = forms.IntegerField

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)
        # Per filter: a schema given whole replaces the description taken from help_text.
        description = kwargs.get("help_text", "")
        extend_schema_field(
            {"type": "integer", "minimum": 1, "maximum": MAX_ID, "description": description}
        )(self)


class OnceEachForm(forms.Form):
    """A filter form that refuses a parameter given twice where it takes one value
    (``?job=1&job=``): django-filter would read the last one alone, and answer a list
    the request did not ask for."""

    def clean(self) -> dict[str, Any] | None:
        given = getattr(self.data, "getlist", lambda key: [self.data.get(key)])
        for name, field in self.fields.items():
            if isinstance(field, forms.MultipleChoiceField):
                continue  # ?status=failed&status=lost: any of them
            suffixes = getattr(field.widget, "widgets_names", [""])  # a range: _after, _before
            keys = [f"{name}{suffix}" for suffix in suffixes]
            if any(len(given(key)) > 1 for key in keys):
                self.add_error(name, _("Give this parameter once."))
        return super().clean()


class JobFilter(django_filters.FilterSet):
    """``?name=`` finds a job by its name, the identifier people and scripts know."""

    enabled = BooleanFilter()

    class Meta:
        model = Job
        fields = ["name", "task", "enabled"]
        form = OnceEachForm


class JobRunFilter(django_filters.FilterSet):
    # An id, not a choice among existing jobs: a deleted job's runs are kept.
    job = IdFilter(field_name="job", help_text=_("The job's id."))
    job_name = django_filters.CharFilter(help_text=_("The job's name, kept after it is deleted."))
    status = django_filters.MultipleChoiceFilter(
        choices=RunStatus.choices, help_text=_("Repeat to match any of several.")
    )
    trigger = django_filters.ChoiceFilter(choices=RunTrigger.choices)
    executor = django_filters.CharFilter(
        help_text=_("What executed it: thread, process, celery, django_tasks, …")
    )
    queue = django_filters.CharFilter(help_text=_("The executor's queue it was sent to."))
    scheduled_for = django_filters.IsoDateTimeFromToRangeFilter(
        help_text=_("scheduled_for_after and scheduled_for_before: ISO 8601 bounds, both included.")
    )

    class Meta:
        model = JobRun
        fields = ["job", "job_name", "status", "trigger", "executor", "queue", "scheduled_for"]
        form = OnceEachForm
