"""Every bad input is a ValidationError on the right field from full_clean(); nothing is stored."""

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from tablecron.models import Job
from tests.support.bad_inputs import BAD_INPUTS, HOSTILE
from tests.support.factories import ADD, in_future, job

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [pytest.param(fields, field, words, id=case) for case, fields, field, words in BAD_INPUTS],
)
def test_bad_input_is_a_field_error_and_nothing_is_stored(
    fields: dict[str, Any], field: str, words: str
) -> None:
    candidate = job(**fields)
    with pytest.raises(ValidationError) as caught:
        candidate.full_clean()
    errors = caught.value.message_dict
    assert field in errors, errors
    assert words.lower() in " ".join(errors[field]).lower(), errors
    assert not Job.objects.exists()


def test_there_are_at_least_25_distinct_bad_inputs() -> None:
    assert len({case for case, *_ in BAD_INPUTS}) == len(BAD_INPUTS) >= 25


def test_every_hostile_class_has_cases_in_the_table() -> None:
    for cases in HOSTILE.values():
        assert len(cases) >= 3
        assert all(case in BAD_INPUTS for case in cases)


def test_duplicate_name() -> None:
    job(name="nightly").save()
    with pytest.raises(ValidationError) as caught:
        job(name="nightly").full_clean()
    assert "already exists" in caught.value.message_dict["name"][0]
    assert Job.objects.count() == 1


@override_settings(TABLECRON={"ARGS_MAX_BYTES": 10})
def test_args_size_limit_is_a_setting() -> None:
    with pytest.raises(ValidationError) as caught:
        job(args=[123456789]).full_clean()
    assert "at most 10" in caught.value.message_dict["args"][0]


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"cron": "*/5 * * * * *"},
        {"cron": "@daily", "timezone": "Asia/Shanghai"},
        {"cron": "", "interval": timedelta(seconds=30)},
        {"cron": "", "run_at": in_future(hours=1)},
        {"cron": ""},
        {"args": [], "kwargs": {"a": 1, "b": 2}},
        {"task": "testapp.greet", "args": [], "kwargs": {"who": "world"}},
        {
            "task": "tests.testapp.tablecron_jobs.async_noop",
            "args": [],
            "kwargs": {"anything": [1, None]},
        },
        {"start_at": in_future(days=1), "end_at": in_future(days=2)},
        {"jitter": timedelta(seconds=5), "timeout": timedelta(minutes=1), "max_instances": 3},
    ],
)
def test_good_input_passes(fields: dict[str, Any]) -> None:
    candidate = job(**fields)
    candidate.full_clean()
    candidate.save()


def test_save_rejects_an_unusable_schedule_even_without_full_clean() -> None:
    with pytest.raises(ValidationError) as caught:
        Job.objects.create(name="a", task=ADD, args=[1], cron="0 25 * * *")
    assert "cron" in caught.value.message_dict
    assert not Job.objects.exists()


TYPED = "tests.testapp.tablecron_jobs.typed"


@pytest.mark.parametrize(
    ("args", "kwargs", "field", "words"),
    [
        (["7"], {}, "args", '“days” of tests.testapp.tablecron_jobs.typed must be int, not "7"'),
        ([True], {}, "args", "must be int, not true"),
        (
            [7],
            {"ratio": "half"},
            "kwargs",
            "“ratio” of tests.testapp.tablecron_jobs.typed must be float",
        ),
        ([7], {"tags": "a,b"}, "kwargs", "must be list or NoneType"),
        ([7], {"options": []}, "kwargs", "must be dict"),
    ],
)
def test_argument_types_are_checked_against_json_annotations(
    args: list[Any], kwargs: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        job(task=TYPED, args=args, kwargs=kwargs).full_clean()
    assert words in caught.value.message_dict[field][0]


def test_argument_types_that_fit() -> None:
    job(task=TYPED, args=[7], kwargs={"ratio": 1, "tags": None, "options": {"a": 1}}).full_clean()
    job(task=TYPED, args=[7], kwargs={"ratio": 0.5, "tags": ["x"], "when": [1, "any"]}).full_clean()
