"""On PostgreSQL, one index fewer on the run table (issue 17): the foreign key's index on
``job_id``, whose every lookup the unique key (job_id, scheduled_for, attempt) serves as
well. Every run is written twice (claimed, ended; its status is indexed, so both writes
are new row versions in every index of the table): two index entries fewer per run.

MySQL/MariaDB never had it (InnoDB indexes a foreign key itself, and the unique key
serves); SQLite keeps it rather than rebuild the run table for it. The model says it
for all of them.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "tablecron_jobrun_job_id_f97d3330"  # Django's name for it: the same everywhere


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX IF EXISTS "{INDEX}"')


def restore(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{INDEX}" ON "tablecron_jobrun" ("job_id")')


class Migration(migrations.Migration):
    dependencies = [
        ("tablecron", "0017_notifications_by_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop, restore, elidable=False)],
            state_operations=[
                migrations.AlterField(
                    model_name="jobrun",
                    name="job",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="runs",
                        to="tablecron.job",
                        verbose_name="job",
                    ),
                ),
            ],
        ),
    ]
