"""Serializer fields that keep tablecron's rules where DRF's defaults differ."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext
from rest_framework import serializers

from tablecron.schedules import MAX_DURATION


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


def _duration_too_long() -> str:
    return gettext("Enter a duration of at most %(days)d days.") % {"days": MAX_DURATION.days}


class DurationField(serializers.DurationField):
    """DRF's, answering a duration beyond Python's (a billion days) in the model's words,
    where DRF's parser would let ``OverflowError`` through as a server error."""

    default_error_messages = {"overflow": lazy(_duration_too_long, str)()}

    def to_internal_value(self, value: Any) -> timedelta:
        try:
            return super().to_internal_value(value)
        except OverflowError:
            self.fail("overflow")


class BlankAsNullChoiceField(serializers.ChoiceField):
    """A read-only choice whose blank value (no status yet) is answered as ``null``: an
    enum a generated client can type, rather than an empty string outside it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value: Any) -> Any:
        return super().to_representation(value) or None
