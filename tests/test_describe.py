"""Schedules in words (tablecron.describe), in English and in Simplified Chinese."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import translation

from tablecron.describe import cron_locale, describe_cron, describe_interval, describe_schedule
from tablecron.models import Job


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
        ("zh-hant", "zh_TW"),
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
