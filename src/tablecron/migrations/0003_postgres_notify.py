"""On PostgreSQL, wake sleeping schedulers at once when a job or a manual run is written.

A statement-level trigger sends a notification on ``NOTIFY_CHANNEL`` (delivered on
commit) for writes
that may make something due sooner: new jobs, a changed next_run_at or enabled, new runs.
The scheduler's own claims set ``CLAIMING_SETTING`` so they do not wake each other.
Other databases are polled (POLL_INTERVAL); this migration does nothing there.
"""

from django.db import migrations

from tablecron.sql.constants import CLAIMING_SETTING, NOTIFY_CHANNEL

FUNCTION = f"""
CREATE OR REPLACE FUNCTION tablecron_notify() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('{CLAIMING_SETTING}', true), '') <> 'on' THEN
        PERFORM pg_notify('{NOTIFY_CHANNEL}', TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""
TRIGGERS = [
    "CREATE TRIGGER tablecron_job_changed AFTER INSERT OR UPDATE OF next_run_at, enabled "
    "ON tablecron_job FOR EACH STATEMENT EXECUTE FUNCTION tablecron_notify()",
    "CREATE TRIGGER tablecron_run_added AFTER INSERT ON tablecron_jobrun "
    "FOR EACH STATEMENT EXECUTE FUNCTION tablecron_notify()",
]
DROP = [
    "DROP TRIGGER IF EXISTS tablecron_job_changed ON tablecron_job",
    "DROP TRIGGER IF EXISTS tablecron_run_added ON tablecron_jobrun",
    "DROP FUNCTION IF EXISTS tablecron_notify()",
]


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in [FUNCTION, *TRIGGERS]:
            schema_editor.execute(statement)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("tablecron", "0002_scheduler")]
    operations = [migrations.RunPython(install, uninstall, elidable=False)]
