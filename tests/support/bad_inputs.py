"""Bad input, case by case: each must be a field error from ``full_clean()``
(tests/models/test_validation.py) and from the API (tests/contrib/rest_framework/test_jobs.py)."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.support.factories import in_future

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
    (
        "bad e-mail recipient",
        {"notify": True, "notify_emails": "ops@example.com, ops-at-example"},
        "notify_emails",
        "these are not: ops-at-example",
    ),
    ("webhook not a URL", {"notify_webhook": "slack"}, "notify_webhook", "valid URL"),
    ("ftp webhook", {"notify_webhook": "ftp://example.com/hook"}, "notify_webhook", "https://"),
    ("zero alert after", {"alert_after": timedelta(0)}, "alert_after", "longer than zero"),
    ("negative alert after", {"alert_after": timedelta(hours=-1)}, "alert_after", "longer than"),
]
