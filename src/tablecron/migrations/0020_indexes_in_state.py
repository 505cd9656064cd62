"""Notifications' three indexes, made by migration 0017, enter the model's state, as they
are on MariaDB and SQLite (whole): SQLite rebuilds a table from the state when a later
migration alters it, and would have left them out. Nothing changes in the database; on
PostgreSQL the same names stay partial."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tablecron", "0019_fewer_index_entries"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="job",
                    index=models.Index(
                        fields=["alert_state", "alerted_at"], name="tablecron_job_alerts"
                    ),
                ),
                migrations.AddIndex(
                    model_name="job",
                    index=models.Index(fields=["alert_after"], name="tablecron_job_switch"),
                ),
                migrations.AddIndex(
                    model_name="jobrun",
                    index=models.Index(
                        fields=["status", "finished_at"], name="tablecron_run_status_ended"
                    ),
                ),
            ]
        ),
    ]
