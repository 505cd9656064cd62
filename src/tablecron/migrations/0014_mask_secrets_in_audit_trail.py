"""Masks the secrets already in the audit trail (issue 20, item 8).

Before this release the trail stored every value of a job's arguments and its webhook URL,
and kept them for ever: a rotated password, or a deleted job's webhook token, stayed
readable. New entries are masked when written (``tablecron.audit``); this rewrites the
old ones, as ``tablecron.secrets`` masks them, in the database Django's routers choose
for the admin's log (which may not be tablecron's own). Without the admin installed,
there is no trail and nothing to do. It cannot be undone: the values are gone.
"""

import json

from django.db import connections, migrations, router

from tablecron.secrets import mask_field


def _masked(message: str) -> str:
    """The change message with tablecron's recorded values masked."""
    try:
        items = json.loads(message or "[]")
    except ValueError:
        return message
    if not isinstance(items, list):
        return message
    for item in items:
        ours = item.get("tablecron") if isinstance(item, dict) else None
        changes = ours.get("changes") if isinstance(ours, dict) else None
        if not isinstance(changes, dict):
            continue
        for name, values in changes.items():
            if isinstance(values, list):
                changes[name] = [mask_field(name, value) for value in values]
    return json.dumps(items, ensure_ascii=False)


def mask_trail(apps, schema_editor):
    try:
        log_entry = apps.get_model("admin", "LogEntry")
        content_type = apps.get_model("contenttypes", "ContentType")
    except LookupError:  # no admin: no trail
        return
    alias = router.db_for_write(log_entry)
    tables = connections[alias].introspection.table_names()
    if log_entry._meta.db_table not in tables or content_type._meta.db_table not in tables:
        return
    job_type = (
        content_type.objects.using(alias).filter(app_label="tablecron", model="job").first()
    )
    if job_type is None:
        return
    entries = log_entry.objects.using(alias).filter(content_type=job_type)
    for entry in entries.only("pk", "change_message").iterator(chunk_size=1000):
        masked = _masked(entry.change_message)
        if masked != entry.change_message:
            entries.filter(pk=entry.pk).update(change_message=masked)


class Migration(migrations.Migration):
    # None on the admin's apps: tablecron installs without them. On a new database their
    # tables may come later, and hold nothing yet.
    dependencies = [("tablecron", "0013_manual_runs_beside_running")]

    operations = [migrations.RunPython(mask_trail, migrations.RunPython.noop, elidable=True)]
