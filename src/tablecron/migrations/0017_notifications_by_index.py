"""What notifications look at each heartbeat, by index rather than by reading every job
(issue 19): the runs that ended failing since a time, the jobs told about (not "ok", or
told lately), and the jobs with a dead man's switch.

On PostgreSQL the indexes are partial, holding only those rows: an update of a row there
writes a new entry in every index of its table whenever an indexed column changes (a
claim moves ``next_run_at``, a run's end its ``status``), so three full indexes cost a
draining scheduler 4.7 index entries a run (16.7 to 21.3, bench/scheduler.py) and 16 %
more WAL. MariaDB and SQLite rewrite only the indexes whose columns change, and have no
partial index a query with parameters can use (MariaDB none at all: Django would warn,
models.W037, if the model declared one): there they are whole. They entered the
model's state, whole, in migration 0020.
"""

from django.db import migrations

FAILING = "('failed', 'timed_out', 'lost', 'missed')"  # models.run.FAILING, in SQL
INDEXES = [  # name, table, columns, PostgreSQL's condition
    ("tablecron_run_status_ended", "tablecron_jobrun", "status, finished_at",
     f"status IN {FAILING}"),
    ("tablecron_job_alerts", "tablecron_job", "alert_state, alerted_at",
     "alerted_at IS NOT NULL"),
    ("tablecron_job_switch", "tablecron_job", "alert_after", "alert_after IS NOT NULL"),
]  # fmt: skip


def create(apps, schema_editor):
    quote = schema_editor.quote_name
    for name, table, columns, condition in INDEXES:
        where = f" WHERE {condition}" if schema_editor.connection.vendor == "postgresql" else ""
        listed = ", ".join(quote(column) for column in columns.split(", "))
        schema_editor.execute(f"CREATE INDEX {quote(name)} ON {quote(table)} ({listed}){where}")


def drop(apps, schema_editor):
    quote = schema_editor.quote_name
    for name, table, _columns, _condition in INDEXES:
        on = f" ON {quote(table)}" if schema_editor.connection.vendor == "mysql" else ""
        schema_editor.execute(f"DROP INDEX {quote(name)}{on}")


class Migration(migrations.Migration):
    atomic = False  # MySQL cannot roll DDL back: Django refuses it inside a transaction
    dependencies = [
        ("tablecron", "0016_job_after"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
