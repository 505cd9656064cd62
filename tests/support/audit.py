"""Reading the audit trail back: the jobs' LogEntry rows, oldest first, as dicts."""

import json
from typing import Any

from django.contrib.admin.models import LogEntry


def trail(**filters: Any) -> list[dict[str, Any]]:
    """Each entry's job, user, flag and tablecron's part of the change message."""
    entries = []
    for log in LogEntry.objects.filter(**filters).select_related("user").order_by("id"):
        message = json.loads(log.change_message)
        ours = next(item["tablecron"] for item in message if "tablecron" in item)
        entries.append(
            {
                "job": log.object_repr,
                "object_id": log.object_id,
                "user": log.user.get_username(),
                "flag": log.action_flag,
                "via": ours["via"],
                "action": ours.get("action", ""),
                "changes": ours.get("changes", {}),
                "run": ours.get("run"),
                "django": [item for item in message if "tablecron" not in item],
            }
        )
    return entries
