"""Serializer fields that keep tablecron's rules where DRF's defaults differ."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from rest_framework import serializers


class AwareDateTimeField(serializers.DateTimeField):
    """A date and time that keeps naive input naive, for the model to refuse.

    DRF would read a datetime without an offset in the current time zone. tablecron
    takes that for a mistake (a job would fire hours off), so the model's validation
    reports it on the field, as it does for ORM code and the admin.
    """

    def enforce_timezone(self, value: datetime) -> datetime:
        if timezone.is_naive(value):
            return value
        return super().enforce_timezone(value)
