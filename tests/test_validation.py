"""Every bad input is a ValidationError on the right field from full_clean(); nothing is stored."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from tablecron.models import Job
from tests.support.factories import ADD, in_future, job

pytestmark = pytest.mark.django_db

NAIVE = datetime(2030, 1, 1, 9, 0)
LATER = in_future(days=2)

BAD_INPUTS: list[tuple[str, dict[str, Any], str, str]] = [
    # (case, fields, field with the error, words the message contains)
    ("empty name", {"name": ""}, "name", "blank"),
    ("over-long name", {"name": "x" * 201}, "name", "at most 200"),
    ("queue with a space", {"queue": "heavy jobs"}, "queue", "letters, digits"),
    ("over-long queue", {"queue": "q" * 201}, "queue", "at most 200"),
    ("minute out of range", {"cron": "60 * * * *"}, "cron", "bad minute"),
    ("hour out of range", {"cron": "0 24 * * *"}, "cron", "bad hour"),
    ("day of month 0", {"cron": "0 0 0 * *"}, "cron", "bad day-of-month"),
    ("31 April", {"cron": "0 0 31 4 *"}, "cron", "bad day-of-month"),
    ("month 13", {"cron": "0 0 1 13 *"}, "cron", "bad month"),
    ("weekday 8", {"cron": "0 0 * * 8"}, "cron", "bad day-of-week"),
    ("second 60", {"cron": "60 * * * * *"}, "cron", "bad second"),
    ("step of zero", {"cron": "*/0 * * * *"}, "cron", "bad minute"),
    ("reversed range", {"cron": "0 9-5 * * *"}, "cron", "bad hour"),
    ("words", {"cron": "every day at noon"}, "cron", "5 fields"),
    ("four fields", {"cron": "* * * *"}, "cron", "has 4"),
    ("seven fields", {"cron": "0 0 0 * * * 2030"}, "cron", "has 7"),
    ("unknown alias", {"cron": "@fortnightly"}, "cron", "has 1"),
    ("unknown time zone", {"timezone": "Mars/Olympus_Mons"}, "timezone", "not a known time zone"),
    ("time zone path", {"timezone": "../../etc/passwd"}, "timezone", "not a known time zone"),
    ("naive run_at", {"cron": "", "run_at": NAIVE}, "run_at", "time zone"),
    ("naive start_at", {"start_at": NAIVE}, "start_at", "time zone"),
    ("negative interval", {"cron": "", "interval": timedelta(seconds=-5)}, "interval", "at least"),
    ("zero interval", {"cron": "", "interval": timedelta(0)}, "interval", "at least one second"),
    (
        "sub-second interval",
        {"cron": "", "interval": timedelta(milliseconds=10)},
        "interval",
        "at least",
    ),
    ("cron and interval", {"interval": timedelta(minutes=5)}, "interval", "one kind"),
    (
        "interval and run_at",
        {"cron": "", "interval": timedelta(minutes=5), "run_at": in_future(days=1)},
        "run_at",
        "one kind",
    ),
    (
        "end before start",
        {"start_at": in_future(days=2), "end_at": in_future(days=1)},
        "end_at",
        "later than",
    ),
    (
        "end equals start",
        {"start_at": LATER, "end_at": LATER},
        "end_at",
        "later than",
    ),
    (
        "run_at outside window",
        {"cron": "", "run_at": in_future(days=1), "start_at": in_future(days=2)},
        "run_at",
        "outside",
    ),
    ("unknown task", {"task": "os.system"}, "task", "not a registered task"),
    (
        "unregistered function",
        {"task": "tests.testapp.tablecron_jobs.not_registered"},
        "task",
        "not a registered task",
    ),
    ("blank task", {"task": ""}, "task", "blank"),
    ("too many args", {"args": [1, 2, 3]}, "args", "too many positional"),
    ("missing argument", {"args": []}, "kwargs", "missing a required argument: 'a'"),
    ("unexpected keyword", {"kwargs": {"c": 1}}, "kwargs", "unexpected keyword argument 'c'"),
    ("argument given twice", {"kwargs": {"a": 2}}, "kwargs", "multiple values"),
    (
        "keyword-only given positionally",
        {"task": "testapp.greet", "args": ["you"]},
        "args",
        "too many positional",
    ),
    ("args not a list", {"args": {"a": 1}}, "args", "JSON list"),
    ("args a string", {"args": "1, 2"}, "args", "JSON list"),
    ("kwargs not an object", {"kwargs": [1]}, "kwargs", "JSON object"),
    ("non-JSON arg", {"args": [object()]}, "args", "JSON"),
    ("NaN is not JSON", {"args": [float("nan")]}, "args", "JSON"),
    ("decimal is not JSON", {"args": [Decimal("1.5")]}, "args", "JSON"),
    ("oversize args", {"args": ["x" * 70_000]}, "args", "at most 65536"),
    ("negative jitter", {"jitter": timedelta(seconds=-1)}, "jitter", "negative"),
    (
        "negative misfire grace",
        {"misfire_grace": timedelta(minutes=-1)},
        "misfire_grace",
        "negative",
    ),
    ("zero timeout", {"timeout": timedelta(0)}, "timeout", "longer than zero"),
    ("zero max instances", {"max_instances": 0}, "max_instances", "greater than or equal to 1"),
    ("negative retries", {"max_retries": -1}, "max_retries", "greater than or equal to 0"),
    ("negative retry delay", {"retry_delay": timedelta(seconds=-1)}, "retry_delay", "negative"),
]


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
    assert len({case for case, *_ in BAD_INPUTS}) >= 25


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
