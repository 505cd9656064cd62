"""Bad input, case by case: each must be a field error from ``full_clean()``
(tests/models/test_validation.py) and from the API (tests/contrib/rest_framework/test_jobs.py).

The hostile classes (unstorable characters, durations and dates out of range, over-long
values, over-deep arguments) are counted per class in ``HOSTILE``."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.support.factories import ADD, in_future

NAIVE = datetime(2030, 1, 1, 9, 0)
LATER = in_future(days=2)
BILLION_DAYS = timedelta(days=999_999_999)  # Python's largest
YEAR_1 = datetime(1, 1, 1, tzinfo=UTC)
YEAR_9999 = datetime(9999, 6, 1, tzinfo=UTC)
NUL, SURROGATE = "\x00", "\ud800"
CHARACTERS = "characters"
GREET = "testapp.greet"  # any keyword arguments of strings


def nested(depth: int) -> list[object]:
    value: list[object] = []
    for _level in range(depth - 1):
        value = [value]
    return value


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

# Classes of hostile input that once ended in a server error, or were stored unreadable.
HOSTILE: dict[str, list[tuple[str, dict[str, Any], str, str]]] = {
    "characters no database stores (NUL, lone surrogates)": [
        ("NUL in name", {"name": f"a{NUL}b"}, "name", CHARACTERS),
        ("NUL in description", {"description": NUL}, "description", CHARACTERS),
        ("NUL in task", {"task": ADD + NUL}, "task", CHARACTERS),
        ("NUL in cron", {"cron": f"0 9 * * *{NUL}"}, "cron", CHARACTERS),
        ("NUL in time zone", {"timezone": f"UTC{NUL}"}, "timezone", CHARACTERS),
        ("NUL in queue", {"queue": f"q{NUL}"}, "queue", CHARACTERS),
        ("NUL in an argument", {"args": [f"a{NUL}"]}, "args", CHARACTERS),
        ("NUL in a keyword", {"task": GREET, "args": [], "kwargs": {f"who{NUL}": "x"}}, "kwargs",
         CHARACTERS),
        ("surrogate in name", {"name": SURROGATE}, "name", CHARACTERS),
        ("surrogate in description", {"description": f"x{SURROGATE}"}, "description", CHARACTERS),
        ("surrogate in e-mail recipients", {"notify_emails": f"a@b.org, {SURROGATE}"},
         "notify_emails", CHARACTERS),
        ("NUL in the webhook", {"notify_webhook": f"https://x.org/{NUL}"}, "notify_webhook",
         CHARACTERS),
        ("surrogate in task", {"task": SURROGATE}, "task", CHARACTERS),
        ("surrogate in cron", {"cron": SURROGATE}, "cron", CHARACTERS),
        ("surrogate in time zone", {"timezone": SURROGATE}, "timezone", CHARACTERS),
        ("surrogate in an argument", {"args": [SURROGATE]}, "args", CHARACTERS),
        ("surrogate in a keyword value", {"task": GREET, "args": [], "kwargs": {"who": SURROGATE}},
         "kwargs", CHARACTERS),
    ],
    "durations beyond the schedule's arithmetic": [
        ("interval of a billion days", {"cron": "", "interval": BILLION_DAYS}, "interval",
         "at most 3650 days"),
        ("interval just past the limit", {"cron": "", "interval": timedelta(days=3650, seconds=1)},
         "interval", "at most 3650 days"),
        ("jitter of a billion days", {"jitter": BILLION_DAYS}, "jitter", "at most 3650 days"),
        ("misfire grace of a billion days", {"misfire_grace": BILLION_DAYS}, "misfire_grace",
         "at most 3650 days"),
        ("retry delay of a billion days", {"retry_delay": BILLION_DAYS}, "retry_delay",
         "at most 3650 days"),
        ("timeout of a billion days", {"timeout": BILLION_DAYS}, "timeout", "at most 3650 days"),
        ("jitter past Python's, as text", {"jitter": "1000000000 00:00:00"}, "jitter",
         "at most 3650 days"),
    ],
    "dates beyond Python's datetime or the column": [
        ("run_at in year 1", {"cron": "", "run_at": YEAR_1}, "run_at", "from the year 1970"),
        ("start_at in year 1", {"start_at": YEAR_1}, "start_at", "from the year 1970"),
        ("end_at in year 9999", {"end_at": YEAR_9999}, "end_at", "to 8999"),
        ("run_at in year 9999", {"cron": "", "run_at": YEAR_9999}, "run_at", "to 8999"),
        ("start_at of a job with no schedule", {"cron": "", "start_at": YEAR_1}, "start_at",
         "from the year 1970"),
    ],
    "values long enough to break a library underneath": [
        ("time zone of 6,000 characters", {"timezone": "a/" * 3000}, "timezone", "at most 64"),
        ("time zone of 5,000 letters", {"timezone": "x" * 5000}, "timezone", "at most 64"),
        ("description of 10,001 characters", {"description": "x" * 10_001}, "description",
         "at most 10000"),
        ("over-long task", {"task": "x" * 201}, "task", "at most 200"),
        ("over-long cron", {"cron": "*" * 201}, "cron", "at most 200"),
        ("max instances past the column", {"max_instances": 2**64}, "max_instances",
         "less than or equal to"),
        ("max retries past the column", {"max_retries": 2**64}, "max_retries",
         "less than or equal to"),
    ],
    "arguments nested too deep": [
        ("args nested 33 levels", {"args": [nested(32)]}, "args", "at most 32 levels"),
        ("kwargs nested 33 levels", {"task": GREET, "args": [], "kwargs": {"who": nested(32)}},
         "kwargs", "at most 32 levels"),
        ("args nested 50,000 levels", {"args": nested(50_000)}, "args", "at most 32 levels"),
    ],
}  # fmt: skip
BAD_INPUTS += [case for cases in HOSTILE.values() for case in cases]

# Webhooks the scheduler would POST to inside its own network (issue 20: SSRF).
INTERNAL_WEBHOOKS = {
    "loopback": "http://127.0.0.1:8000/hook",
    "localhost": "http://localhost/hook",
    "IPv6 loopback": "http://[::1]/",
    "IPv4-mapped loopback": "http://[::ffff:127.0.0.1]/",
    "0.0.0.0": "http://0.0.0.0:8000/",
    "the metadata service": "http://169.254.169.254/latest/",
    "a private address": "https://10.0.0.5/hook",
}
BAD_INPUTS += [
    (f"webhook to {what}", {"notify_webhook": url}, "notify_webhook", "internal address")
    for what, url in INTERNAL_WEBHOOKS.items()
]
