"""What the admin's job form posts."""

from typing import Any

from tests.support.factories import ADD


def form_data(**fields: Any) -> dict[str, Any]:
    """What the add form posts, with the read-only runs inline's management form."""
    data: dict[str, Any] = {
        "name": "nightly",
        "description": "",
        "task": ADD,
        "args": "[1]",
        "kwargs": "{}",
        "enabled": "on",
        "schedule_kind": "cron",
        "cron": "0 9 * * 1",
        "timezone": "Asia/Shanghai",
        "interval": "",
        "calendar": "",
        "calendar_rule": "skip",
        "calendar_day": "",
        "run_at_0": "",
        "run_at_1": "",
        "start_at_0": "",
        "start_at_1": "",
        "end_at_0": "",
        "end_at_1": "",
        "jitter": "",
        "misfire_grace": "",
        "coalesce": "on",
        "max_instances": "1",
        "timeout": "",
        "max_retries": "0",
        "retry_delay": "00:01:00",
        "queue": "",
        "concurrency_group": "",
        "notify_emails": "",
        "notify_webhook": "",
        "alert_after": "",
        "runs-TOTAL_FORMS": "0",
        "runs-INITIAL_FORMS": "0",
        "runs-MIN_NUM_FORMS": "0",
        "runs-MAX_NUM_FORMS": "0",
    }
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}
