"""Schedules in words (tablecron.describe), in English and in Simplified Chinese."""

from calendar import monthrange
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version

import pytest
from django.utils import translation

from tablecron.describe import cron_locale, describe_cron, describe_interval, describe_schedule
from tablecron.models import Job

# cron-descriptor 1.x (django-celery-beat pins it) has no zh_TW: Traditional Chinese reads
# in Simplified Chinese there (tablecron.W011). test_cron_descriptor_1.py runs this module
# with 1.4.5 too.
CRON_DESCRIPTOR_2 = int(version("cron-descriptor").split(".")[0]) >= 2


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 9 * * 1", "At 09:00, only on Monday"),
        ("*/10 * * * * *", "Every 10 seconds"),
        ("0 0 9 * * 1", "At 09:00, only on Monday"),  # seconds first, not a year last
        ("30 0 9 * * 2", "At 09:00:30, only on Tuesday"),
        ("@hourly", "Every hour"),
        ("@weekly", "At 00:00, only on Sunday"),
        ("0 0 1 1 *", "At 00:00, on day 1 of the month, only in January"),
        ("*/5 9-17 * * 1-5", "Every 5 minutes, between 09:00 and 17:59, Monday through Friday"),
        ("0 0 * * 5L", "At 00:00, on the last Friday of the month"),
    ],
)
def test_cron_in_english(expression: str, words: str) -> None:
    with translation.override("en"):
        assert describe_cron(expression) == words


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 9 * * 1", "在 09:00，仅在 星期一"),
        ("*/10 * * * * *", "每 10 秒"),
        ("0 0 1 1 *", "在 00:00，每月的 1 号，仅在 一月"),
    ],
)
def test_cron_in_chinese_with_chinese_day_and_month_names(expression: str, words: str) -> None:
    with translation.override("zh-hans"):
        assert describe_cron(expression) == words


def test_the_same_expression_follows_the_active_language() -> None:
    with translation.override("en"):
        english = describe_cron("0 3 * * 1")
    with translation.override("zh-hans"):
        chinese = describe_cron("0 3 * * 1")
    with translation.override("de"):
        german = describe_cron("0 3 * * 1")
    assert english == "At 03:00, only on Monday"
    assert chinese == "在 03:00，仅在 星期一"
    assert german == "Um 03:00, nur am Montag"


def test_an_expression_cron_descriptor_cannot_read_is_shown_as_typed() -> None:
    assert describe_cron("every tuesday-ish") == "every tuesday-ish"


@pytest.mark.parametrize(
    ("language", "locale"),
    [
        ("en", "en_US"),
        ("en-gb", "en_US"),
        ("zh-hans", "zh_CN"),
        ("zh-hant", "zh_TW" if CRON_DESCRIPTOR_2 else "zh_CN"),
        ("de", "de_DE"),
        ("pt-br", "pt_PT"),
        ("ja", "ja_JP"),
        ("eo", "en_US"),  # cron-descriptor has no Esperanto: English
    ],
)
def test_django_languages_map_to_cron_descriptor_locales(language: str, locale: str) -> None:
    assert cron_locale(language) == locale


@pytest.mark.parametrize(
    ("interval", "words"),
    [
        (timedelta(seconds=1), "Every second"),
        (timedelta(seconds=30), "Every 30 seconds"),
        (timedelta(seconds=90), "Every 90 seconds"),
        (timedelta(minutes=1), "Every minute"),
        (timedelta(minutes=15), "Every 15 minutes"),
        (timedelta(minutes=90), "Every 90 minutes"),
        (timedelta(hours=1), "Every hour"),
        (timedelta(hours=2), "Every 2 hours"),
        (timedelta(days=1), "Every day"),
        (timedelta(days=7), "Every 7 days"),
        (timedelta(seconds=1.5), "Every 1.5 seconds"),
    ],
)
def test_intervals_in_the_largest_whole_unit(interval: timedelta, words: str) -> None:
    with translation.override("en"):
        assert describe_interval(interval) == words


def test_intervals_in_chinese() -> None:
    with translation.override("zh-hans"):
        assert describe_interval(timedelta(seconds=30)) == "每 30 秒"
        assert describe_interval(timedelta(hours=2)) == "每 2 小时"
        assert describe_interval(timedelta(days=1)) == "每天"


def test_each_kind_of_job() -> None:
    with translation.override("en"):
        cron = describe_schedule(Job(cron="0 9 * * 1", timezone="Asia/Shanghai"))
        interval = describe_schedule(Job(interval=timedelta(seconds=30)))
        # Shown in the current time zone (the tests' TIME_ZONE is Europe/Berlin).
        once = describe_schedule(Job(run_at=datetime(2026, 12, 1, 8, 0, tzinfo=UTC)))
        manual = describe_schedule(Job())
    assert cron == "At 09:00, only on Monday (Asia/Shanghai)"
    assert interval == "Every 30 seconds"
    assert once == "Once at 2026-12-01 09:00:00"
    assert manual == "Manual only"


def test_each_kind_of_job_in_chinese() -> None:
    with translation.override("zh-hans"):
        cron = describe_schedule(Job(cron="0 9 * * 1", timezone="Asia/Shanghai"))
        once = describe_schedule(Job(run_at=datetime(2026, 12, 1, 8, 0, tzinfo=UTC)))
        manual = describe_schedule(Job())
    assert cron == "在 09:00，仅在 星期一（Asia/Shanghai）"
    assert once == "一次性：2026-12-01 09:00:00"
    assert manual == "仅手动运行"


def odd(day: date) -> bool:
    return day.day % 2 == 1


def last_of_month(day: date) -> bool:
    return (day + timedelta(days=1)).month != day.month


MON, TUE, THU, FRI, SAT, SUN = 0, 1, 3, 4, 5, 6


# When the day of month and the day of week are both restricted, cronsim (as Debian cron)
# fires on days that match both if either field starts with "*", else on days that match
# either; "*/2" counts from day 1 of each month. Each row: the words, and what they say.
DAYS = [
    ("0 9 */2 * 1", "At 09:00, on days 1, 3, 5 … 31 of the month, if it is a Monday",
     lambda d: odd(d) and d.weekday() == MON),
    ("0 0 9 */2 * 1", "At 09:00, on days 1, 3, 5 … 31 of the month, if it is a Monday",
     lambda d: odd(d) and d.weekday() == MON),
    ("0 9 1-15 * 1", "At 09:00, between day 1 and 15 of the month, or on a Monday",
     lambda d: d.day <= 15 or d.weekday() == MON),
    ("0 9 */2 * *", "At 09:00, on days 1, 3, 5 … 31 of the month", odd),
    ("0 9 1 * */2",
     "At 09:00, on day 1 of the month, if it is a Tuesday, Thursday, Saturday or Sunday",
     lambda d: d.day == 1 and d.weekday() in (TUE, THU, SAT, SUN)),
    ("0 9 * * */2", "At 09:00, only on Tuesday, Thursday, Saturday or Sunday",
     lambda d: d.weekday() in (TUE, THU, SAT, SUN)),
    ("0 9 1,15 * 1-5",
     "At 09:00, on day 1 and 15 of the month, or on a Monday, Tuesday, Wednesday, Thursday "
     "or Friday",
     lambda d: d.day in (1, 15) or d.weekday() < SAT),
    ("0 9 */10 * 1-5",
     "At 09:00, on days 1, 11, 21 and 31 of the month, if it is a Monday, Tuesday, "
     "Wednesday, Thursday or Friday",
     lambda d: d.day in (1, 11, 21, 31) and d.weekday() < SAT),
    ("0 9 L * 1", "At 09:00, on the last day of the month, or on a Monday",
     lambda d: last_of_month(d) or d.weekday() == MON),
    ("0 9 1 * 5#2", "At 09:00, on day 1 of the month, or on the second Friday of the month",
     lambda d: d.day == 1 or (d.weekday() == FRI and 8 <= d.day <= 14)),
    ("0 9 */2 * 5L",
     "At 09:00, on days 1, 3, 5 … 31 of the month, if it is on the last Friday of the month",
     lambda d: odd(d) and d.weekday() == FRI and d.day + 7 > monthrange(d.year, d.month)[1]),
    ("0 9 1 * 0-6", "At 09:00", lambda d: True),  # either field: any day matches
    ("0 9 */2,4 * 1", "At 09:00, on days 1, 3, 4, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, "
     "27, 29 and 31 of the month, if it is a Monday",
     lambda d: (odd(d) or d.day == 4) and d.weekday() == MON),
    ("0 9 1-15 * *", "At 09:00, between day 1 and 15 of the month", lambda d: d.day <= 15),
    ("0 9 * * 1", "At 09:00, only on Monday", lambda d: d.weekday() == MON),
    # A list with a last or nth weekday: no words rather than wrong ones.
    ("0 9 1 * 1,5L", "0 9 1 * 1,5L",
     lambda d: d.day == 1 or d.weekday() == MON
     or (d.weekday() == FRI and d.day + 7 > monthrange(d.year, d.month)[1])),
]  # fmt: skip


@pytest.mark.parametrize(("expression", "words", "says"), DAYS, ids=[row[0] for row in DAYS])
def test_the_words_say_the_days_the_job_fires(
    expression: str, words: str, says: Callable[[date], bool]
) -> None:
    with translation.override("en"):
        assert describe_cron(expression) == words
    start = datetime(2027, 11, 1, tzinfo=UTC)  # a year with a 29 February in it
    fires = Job(cron=expression, timezone="UTC").upcoming(400, now=start)
    year = [start.date() + timedelta(days=n) for n in range(366)]
    assert {fire.date() for fire in fires if fire.date() <= year[-1]} == set(filter(says, year))


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 9 */2 * 1", "在 09:00，每月的 1，3，5 … 31 号，且当天是星期一"),
        ("0 9 1-15 * 1", "在 09:00，在每月的 1 和 15 号之间，或每逢星期一"),
        ("0 9 */2 * *", "在 09:00，每月的 1，3，5 … 31 号"),
        ("0 9 1 * */2", "在 09:00，每月的 1 号，且当天是星期二，星期四，星期六 或 星期日"),
        ("0 9 * * */2", "在 09:00，仅在 星期二，星期四，星期六 或 星期日"),
        ("0 9 */10 * 1", "在 09:00，每月的 1，11，21 和 31 号，且当天是星期一"),
        ("0 9 */2 * 5L", "在 09:00，每月的 1，3，5 … 31 号，且当天是每月的最后一个 星期五"),
        ("0 9 L * 5L", "在 09:00，每月的最后一天，或每月的最后一个 星期五"),
    ],
)
def test_the_days_in_chinese(expression: str, words: str) -> None:
    with translation.override("zh-hans"):
        assert describe_cron(expression) == words


@pytest.mark.parametrize(
    ("fields", "english", "chinese"),
    [
        (
            {"calendar": "CN"},
            "At 09:00 (Asia/Shanghai), on working days in China",
            "在 09:00（Asia/Shanghai），仅在中国的工作日",
        ),
        (
            {"calendar": "US-CA", "calendar_rule": "next"},
            "At 09:00 (Asia/Shanghai), on working days in United States (CA); on a day off, "
            "the next working day",
            "在 09:00（Asia/Shanghai），仅在美国（CA）的工作日；遇休息日顺延至下一个工作日",
        ),
        (
            {"calendar": "DE-BY", "calendar_rule": "nth", "calendar_day": -1},
            "At 09:00 (Asia/Shanghai), only on the last working day of the month in Germany (BY)",
            "在 09:00（Asia/Shanghai），仅在德国（BY）每月最后一个工作日",
        ),
        (
            {"calendar": "plant", "calendar_rule": "nth", "calendar_day": 3},
            "At 09:00 (Asia/Shanghai), only on working day 3 of the month in “plant”",
            "在 09:00（Asia/Shanghai），仅在“plant”每月第 3 个工作日",
        ),
    ],
)
def test_working_days_in_words(fields: dict[str, object], english: str, chinese: str) -> None:
    job = Job(cron="0 9 * * *", timezone="Asia/Shanghai", **fields)
    with translation.override("en"):
        assert describe_schedule(job) == english
    with translation.override("zh-hans"):
        assert describe_schedule(job) == chinese
