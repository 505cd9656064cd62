"""Hypothesis strategies for every writable field of a job, hostile values included: what
the property tests feed the model (tests/models/test_fuzz.py) and the API
(tests/contrib/rest_framework/test_fuzz.py).

Each field draws plausible values (registered tasks, valid cron expressions, real time
zones, durations and dates in range) mixed with what breaks things: NUL characters and
lone surrogates, text past every limit, durations and dates at Python's extremes,
integers past every column, arguments nested deeper than allowed.
"""

from datetime import UTC, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.duration import duration_iso_string, duration_string
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.support.factories import ADD, T

# Modest: each fuzz test costs a few seconds per database.
FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,  # nothing written to .hypothesis/: CI starts clean every time
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Any code point, surrogates and NUL included, as a careless client or a paste sends them.
characters = st.characters(exclude_categories=())
text = st.one_of(
    st.none(),
    st.text(characters, max_size=20),
    st.text(characters, min_size=195, max_size=210),
    st.builds(lambda part, count: part * count, st.sampled_from(["x", "a/", "\x00", "😀"]),
              st.sampled_from([64, 65, 200, 201, 5000, 10_001])),
)  # fmt: skip
TASKS = [ADD, "testapp.greet", T + "noop", T + "typed", T + "async_noop"]
CRONS = ["", "@daily", "*/5 * * * *", "*/10 * * * * *", "0 9 1 1 *", "0 0 29 2 1", "0 0 30 2 *"]
ZONES = ["UTC", "Europe/Berlin", "Asia/Shanghai", "Pacific/Kiritimati", "America/St_Johns"]

durations = st.one_of(
    st.none(),
    st.timedeltas(),  # Python's whole range: a billion days either way
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=4000)),
    st.sampled_from(["soon", "00:15:00", "1000000000 00:00:00", "P1000000000D"]),  # as text
)
moments = st.one_of(
    st.none(),
    st.datetimes(timezones=st.sampled_from([UTC, ZoneInfo("Pacific/Kiritimati")])),
    st.datetimes(timezones=st.none()),  # naive: refused
)
integers = st.one_of(st.none(), st.integers(-3, 10), st.integers(-(2**70), 2**70))
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(characters, max_size=10),
)  # fmt: skip
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(characters, max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


def nested(depth: int) -> Any:
    value: Any = []
    for _level in range(depth - 1):
        value = [value]
    return value


json_arguments = st.one_of(
    st.none(), json_values, st.sampled_from([nested(32), nested(33), nested(5000)])
)

FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "name": text,
    "description": text,
    "task": st.one_of(st.sampled_from(TASKS), text),
    "args": json_arguments,
    "kwargs": json_arguments,
    "cron": st.one_of(st.sampled_from(CRONS), text),
    "interval": durations,
    "run_at": moments,
    "timezone": st.one_of(st.sampled_from(ZONES), text),
    "start_at": moments,
    "end_at": moments,
    "calendar": st.one_of(st.sampled_from(["", "CN", "US-CA", "DE-BY", "US-XX"]), text),
    "calendar_rule": st.one_of(st.sampled_from(["skip", "next", "previous", "nth"]), text),
    "calendar_day": integers,
    "after_id": integers,  # the API's "after": an id, of no job or of the job itself
    "jitter": durations,
    "enabled": st.one_of(st.none(), st.booleans()),
    "misfire_grace": durations,
    "coalesce": st.one_of(st.none(), st.booleans()),
    "max_instances": integers,
    "timeout": durations,
    "max_retries": integers,
    "retry_delay": durations,
    "queue": st.one_of(st.sampled_from(["", "reports", "bulk:low-1"]), text),
    "notify": st.one_of(st.none(), st.booleans()),
    "notify_emails": st.one_of(st.sampled_from(["", "ops@example.com, b@example.org"]), text),
    "notify_webhook": st.one_of(st.sampled_from(["", "https://hooks.example.com/x"]), text),
    "alert_after": durations,
}


def some_of(strategies: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """One to three of the fields, drawn together: few enough that valid rows occur too."""
    names = st.lists(st.sampled_from(sorted(strategies)), min_size=1, max_size=3, unique=True)
    return names.flatmap(lambda chosen: st.fixed_dictionaries({n: strategies[n] for n in chosen}))


# Fields of a job as Python values, as ORM code sets them.
edits = some_of(FIELDS)


def as_sent(value: Any) -> Any:
    """A field's value as a JSON client writes it: durations in either of DRF's formats,
    dates in ISO 8601."""
    if isinstance(value, timedelta):
        return duration_string(value) if value.days % 2 else duration_iso_string(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# Bodies of any JSON shape, field by field: the typed values as a client sends them, or
# values of any type at all.
bodies = some_of(
    {
        name.removesuffix("_id"): st.one_of(strategy.map(as_sent), json_values)
        for name, strategy in FIELDS.items()
    }
)
