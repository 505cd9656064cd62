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
and W037, if the model declared one): there they stay as they were. The model's state is
unchanged: it describes them as MariaDB and SQLite have them, whole, which is what SQLite
rebuilds a table from when a later migration alters it; on PostgreSQL the same names are
partial (so a later migration that drops the unique key there drops an index, not a
constraint).
"""

from django.db import migrations

LIKE = "tablecron_job_name_76cd76a3_like"  # Django's names: the same on every database
PARTIAL = [  # name, table, column: null but for the rows that link
    ("tablecron_job_after_id_28f8cc9d", "tablecron_job", "after_id"),
    ("tablecron_jobrun_rerun_of_id_f16bc27e", "tablecron_jobrun", "rerun_of_id"),
]
ONCE = "tablecron_jobrun_follows_once"
RUN = '"tablecron_jobrun"'


def partial(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f'DROP INDEX IF EXISTS "{LIKE}"')
    for name, table, column in PARTIAL:
        schema_editor.execute(f'DROP INDEX "{name}"')
        schema_editor.execute(
            f'CREATE INDEX "{name}" ON "{table}" ("{column}") WHERE "{column}" IS NOT NULL'
        )
    schema_editor.execute(f'ALTER TABLE {RUN} DROP CONSTRAINT "{ONCE}"')
    schema_editor.execute(
        f'CREATE UNIQUE INDEX "{ONCE}" ON {RUN} ("upstream_run_id", "job_id") '
        'WHERE "upstream_run_id" IS NOT NULL'
    )


def whole(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f'DROP INDEX "{ONCE}"')
    schema_editor.execute(
        f'ALTER TABLE {RUN} ADD CONSTRAINT "{ONCE}" UNIQUE ("upstream_run_id", "job_id")'
    )
    for name, table, column in PARTIAL:
        schema_editor.execute(f'DROP INDEX "{name}"')
        schema_editor.execute(f'CREATE INDEX "{name}" ON "{table}" ("{column}")')
    schema_editor.execute(f'CREATE INDEX "{LIKE}" ON "tablecron_job" ("name" varchar_pattern_ops)')


class Migration(migrations.Migration):
    dependencies = [
        ("tablecron", "0018_no_run_job_index"),
    ]

    operations = [migrations.RunPython(partial, whole, elidable=False)]
