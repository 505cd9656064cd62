"""On PostgreSQL, leave room in the job table's pages (fillfactor 70).

A run's end updates its job's ``last_status``, which no index covers: with free space on
the row's page, PostgreSQL writes that as a HOT update, touching no index. Full pages
made it a new row version in every index of the table. Measured: ~10 % less database
CPU per run while draining a backlog. Other databases: nothing to do.
"""

from django.db import migrations


def set_fillfactor(value: int):  # noqa: ANN201
    def apply(apps, schema_editor):  # noqa: ANN001, ANN202
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE tablecron_job SET (fillfactor = {value})")

    return apply


class Migration(migrations.Migration):
    dependencies = [("tablecron", "0004_fewer_indexes")]
    operations = [
        migrations.RunPython(set_fillfactor(70), set_fillfactor(100), elidable=False),
    ]
