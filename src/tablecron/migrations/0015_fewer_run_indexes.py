"""On PostgreSQL, two fewer index entries for each write of a run (issue 17).

Every run is written twice (claimed, ended; its status is indexed, so both are new row
versions in every index of the table). Two of those indexes earned nothing on the hot
path: the foreign key's index on ``job_id``, whose every lookup the unique key
(job_id, scheduled_for, attempt) serves as well, and the one on ``rerun_of_id``, which
held an entry for every run though few repeat another; a partial index holds only
those. Other databases keep their indexes: MySQL needs one for each foreign key, and
SQLite would rebuild the run table for it. The models say it for all of them.
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = [
    'DROP INDEX IF EXISTS "tablecron_jobrun_job_id_f97d3330"',
    'DROP INDEX IF EXISTS "tablecron_jobrun_rerun_of_id_f16bc27e"',
    'CREATE INDEX IF NOT EXISTS "tablecron_run_reruns" ON "tablecron_jobrun" ("rerun_of_id") '
    'WHERE "rerun_of_id" IS NOT NULL',
]
BACKWARD = [
    'DROP INDEX IF EXISTS "tablecron_run_reruns"',
    'CREATE INDEX IF NOT EXISTS "tablecron_jobrun_job_id_f97d3330" ON "tablecron_jobrun" '
    '("job_id")',
    'CREATE INDEX IF NOT EXISTS "tablecron_jobrun_rerun_of_id_f16bc27e" ON "tablecron_jobrun" '
    '("rerun_of_id")',
]


def run(statements: list[str]):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("tablecron", "0014_mask_secrets_in_audit_trail"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunPython(run(FORWARD), run(BACKWARD), elidable=False),
            ],
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
                migrations.AlterField(
                    model_name="jobrun",
                    name="rerun_of",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="reruns",
                        to="tablecron.jobrun",
                        verbose_name="run again from",
                    ),
                ),
                migrations.AddIndex(
                    model_name="jobrun",
                    index=models.Index(
                        condition=models.Q(("rerun_of__isnull", False)),
                        fields=["rerun_of"],
                        name="tablecron_run_reruns",
                    ),
                ),
            ],
        ),
    ]
