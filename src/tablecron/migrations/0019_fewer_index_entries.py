"""On PostgreSQL, fewer index entries written per run (issue 17): four indexes of the
hot tables that every claim and every run's end wrote to, and that hold something for
few rows, are dropped or made partial.

A claim writes each job's row anew (``next_run_at`` is indexed) and each run twice
(inserted, ended: ``status`` is indexed), and PostgreSQL adds an entry to every index of
the table for each such write, whether its columns changed or not (no HOT update): a
drain wrote 16.7 index entries a run (bench/scheduler.py). Now:

- the job name's ``varchar_pattern_ops`` index, which Django adds beside the unique key
  and which serves only searches by prefix (the admin's duplicate action looks names up
  by the unique key instead): dropped;
- ``Job.after`` and ``JobRun.rerun_of`` (null but for followers and reruns): partial,
  ``IS NOT NULL``, which still serves their lookups and the foreign keys' SET NULL;
- the unique key (``upstream_run``, ``job``) that proves a follower's run once (null
  but for those runs): a partial unique index.

MariaDB and SQLite rewrite only the indexes whose columns change, and have no partial
index a query with parameters can use (MariaDB none at all: Django would warn, models.W036
and W037, if the model declared one): there they stay as they were. For that reason the
model's state has none of them; this migration keeps them.
"""

import django.db.models.deletion
from django.db import migrations, models

LIKE = "tablecron_job_name_76cd76a3_like"  # Django's names for them: the same everywhere
AFTER = "tablecron_job_after_id_28f8cc9d"
RERUN = "tablecron_jobrun_rerun_of_id_f16bc27e"
ONCE = "tablecron_jobrun_follows_once"
PARTIAL = [  # name, table, columns, PostgreSQL's condition
    ("tablecron_job_followers", "tablecron_job", "after_id", "after_id IS NOT NULL"),
    ("tablecron_run_reruns", "tablecron_jobrun", "rerun_of_id", "rerun_of_id IS NOT NULL"),
]


def partial(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    run = '"tablecron_jobrun"'
    schema_editor.execute(f'DROP INDEX IF EXISTS "{LIKE}"')
    schema_editor.execute(f'DROP INDEX IF EXISTS "{AFTER}"')
    schema_editor.execute(f'DROP INDEX IF EXISTS "{RERUN}"')
    for name, table, column, condition in PARTIAL:
        schema_editor.execute(f'CREATE INDEX "{name}" ON "{table}" ("{column}") WHERE {condition}')
    schema_editor.execute(f'ALTER TABLE {run} DROP CONSTRAINT "{ONCE}"')
    schema_editor.execute(
        f'CREATE UNIQUE INDEX "{ONCE}" ON {run} ("upstream_run_id", "job_id") '
        'WHERE "upstream_run_id" IS NOT NULL'
    )


def whole(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    run = '"tablecron_jobrun"'
    schema_editor.execute(f'DROP INDEX "{ONCE}"')
    schema_editor.execute(
        f'ALTER TABLE {run} ADD CONSTRAINT "{ONCE}" UNIQUE ("upstream_run_id", "job_id")'
    )
    for name, _table, _column, _condition in PARTIAL:
        schema_editor.execute(f'DROP INDEX "{name}"')
    schema_editor.execute(f'CREATE INDEX "{RERUN}" ON {run} ("rerun_of_id")')
    schema_editor.execute(f'CREATE INDEX "{AFTER}" ON "tablecron_job" ("after_id")')
    schema_editor.execute(f'CREATE INDEX "{LIKE}" ON "tablecron_job" ("name" varchar_pattern_ops)')


class Migration(migrations.Migration):
    dependencies = [
        ("tablecron", "0018_no_run_job_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(partial, whole, elidable=False)],
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="jobrun",
                    name="tablecron_jobrun_follows_once",
                ),
                migrations.AlterField(
                    model_name="job",
                    name="after",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text="Run this job each time that job succeeds, instead of at set times. Leave the time schedule empty.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="followers",
                        to="tablecron.job",
                        verbose_name="run after",
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
            ],
        ),
    ]
