"""Property: whatever any writable field holds, full_clean() either refuses it with field
errors or passes, and then save() stores a row that reads back valid. Never an exception
from Python or the database, on any of the three databases."""

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import event, given

from tablecron.models import Job
from tests.support.factories import job
from tests.support.fuzzing import FUZZ, edits

pytestmark = pytest.mark.django_db

FIELD_NAMES = {field.name for field in Job._meta.fields} | {"__all__"}


def field_errors(candidate: Job) -> dict[str, list[str]]:
    try:
        candidate.full_clean()
    except ValidationError as exc:
        return exc.message_dict
    return {}


@FUZZ
@given(fields=edits)
def test_any_value_of_any_field_is_stored_valid_or_a_field_error(fields: dict[str, Any]) -> None:
    with transaction.atomic():
        candidate = job(**fields)
        errors = field_errors(candidate)
        event("refused" if errors else "stored")
        if errors:
            assert set(errors) <= FIELD_NAMES, errors
            assert all(errors.values()), errors
            assert not Job.objects.exists()
        else:
            candidate.save()
            stored = Job.objects.get()
            stored.full_clean()
            assert stored.next_run_at == candidate.next_run_at
        transaction.set_rollback(True)
