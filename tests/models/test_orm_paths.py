"""``next_run_at`` is right the moment a write commits, whichever ORM path wrote it."""

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import F
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from tablecron.models import Job, JobRun
from tests.support.factories import ADD, NEW_YEAR, YEARLY, in_future, job, next_cron

pytestmark = pytest.mark.django_db


def stored(pk: int) -> Job:
    return Job.objects.get(pk=pk)


# -- single-row paths ------------------------------------------------------------------


def test_save_new_row() -> None:
    new = job()
    new.save()
    assert stored(new.pk).next_run_at == next_cron(YEARLY)


def test_save_schedule_edit_recomputes_and_bumps_version() -> None:
    saved = Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY)
    saved.cron = NEW_YEAR
    saved.save()
    row = stored(saved.pk)
    assert row.next_run_at == next_cron(NEW_YEAR)
    assert row.version == 1
    assert saved.version == 1  # read back, not left as an expression


def test_save_of_other_fields_keeps_the_schedulers_next_run() -> None:
    saved = Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY)
    loaded = stored(saved.pk)
    advanced = next_cron(YEARLY, after=next_cron(YEARLY))
    Job.objects.filter(pk=saved.pk).update(next_run_at=advanced)  # the scheduler moves on
    loaded.description = "edited by a person with a stale copy"
    loaded.save()
    row = stored(saved.pk)
    assert row.description == loaded.description
    assert row.next_run_at == advanced
    assert row.version == 0


def test_save_with_update_fields() -> None:
    saved = Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY)
    before = stored(saved.pk).updated_at
    saved.cron = NEW_YEAR
    saved.save(update_fields=["cron"])
    row = stored(saved.pk)
    assert row.next_run_at == next_cron(NEW_YEAR)
    assert row.updated_at > before


def test_objects_create() -> None:
    created = Job.objects.create(name="a", task=ADD, args=[1], interval=timedelta(minutes=5))
    row = stored(created.pk)
    assert row.next_run_at is not None
    assert row.next_run_at - row.created_at == pytest.approx(
        timedelta(minutes=5), abs=timedelta(seconds=1)
    )


def test_get_or_create() -> None:
    created, was_created = Job.objects.get_or_create(
        name="a", defaults={"task": ADD, "args": [1], "cron": YEARLY}
    )
    assert was_created
    assert stored(created.pk).next_run_at == next_cron(YEARLY)


def test_update_or_create_edits_the_schedule() -> None:
    Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY)
    updated, created = Job.objects.update_or_create(name="a", defaults={"cron": NEW_YEAR})
    assert not created
    assert stored(updated.pk).next_run_at == next_cron(NEW_YEAR)


def test_one_off_fires_at_run_at_even_if_just_past() -> None:
    past = timezone.now() - timedelta(minutes=1)
    created = Job.objects.create(name="a", task=ADD, args=[1], run_at=past)
    assert stored(created.pk).next_run_at == past


def test_manual_only_job_has_no_next_run() -> None:
    created = Job.objects.create(name="a", task=ADD, args=[1], cron="")
    assert stored(created.pk).next_run_at is None


# -- pause / resume --------------------------------------------------------------------


def test_pause_clears_and_resume_recomputes_from_now() -> None:
    created = Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY)
    created.pause()
    row = stored(created.pk)
    assert (row.enabled, row.next_run_at) == (False, None)
    row.resume()
    assert stored(created.pk).next_run_at == next_cron(YEARLY)


def test_resume_of_a_one_off_whose_time_passed_does_not_fire() -> None:
    created = Job.objects.create(name="a", task=ADD, args=[1], run_at=in_future(seconds=1))
    created.pause()
    Job.objects.filter(pk=created.pk).update(run_at=F("run_at"), enabled=False)
    created.run_at = timezone.now() - timedelta(hours=1)
    created.save(update_fields=["run_at"])  # moved into the past while paused
    created.resume()
    assert stored(created.pk).next_run_at is None


def test_finished_one_off_keeps_no_next_run_on_unrelated_edits() -> None:
    created = Job.objects.create(name="a", task=ADD, args=[1], run_at=in_future(minutes=1))
    Job.objects.filter(pk=created.pk).update(next_run_at=None)  # the scheduler fired it
    row = stored(created.pk)
    row.description = "done"
    row.save()
    assert stored(created.pk).next_run_at is None


# -- many-row paths --------------------------------------------------------------------


def test_bulk_create() -> None:
    run_at = in_future(days=2)
    Job.objects.bulk_create(
        [
            job(name="cron", cron=YEARLY),
            job(name="interval", cron="", interval=timedelta(hours=1)),
            job(name="once", cron="", run_at=run_at),
            job(name="manual", cron=""),
            job(name="paused", enabled=False),
        ]
    )
    rows = {row.name: row.next_run_at for row in Job.objects.all()}
    assert rows["cron"] == next_cron(YEARLY)
    assert rows["interval"] is not None
    assert rows["once"] == run_at
    assert rows["manual"] is None
    assert rows["paused"] is None


def test_bulk_create_rejects_a_bad_schedule_and_stores_nothing() -> None:
    with pytest.raises(ValidationError) as caught:
        Job.objects.bulk_create([job(name="ok"), job(name="bad", cron="99 * * * *")])
    assert "cron" in caught.value.message_dict
    assert not Job.objects.exists()


def test_queryset_update_of_the_schedule() -> None:
    Job.objects.bulk_create([job(name="a"), job(name="b"), job(name="c", task="testapp.greet")])
    count = Job.objects.filter(task=ADD).update(cron=NEW_YEAR)
    assert count == 2
    rows = {row.name: row for row in Job.objects.all()}
    assert rows["a"].next_run_at == rows["b"].next_run_at == next_cron(NEW_YEAR)
    assert rows["c"].next_run_at == next_cron(YEARLY)
    assert (rows["a"].version, rows["c"].version) == (1, 0)


def test_queryset_update_of_time_zone_and_window() -> None:
    created = Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY)
    Job.objects.filter(pk=created.pk).update(timezone="Asia/Tokyo")
    assert stored(created.pk).next_run_at == next_cron(YEARLY, zone="Asia/Tokyo")
    start = next_cron(YEARLY) + timedelta(days=1)
    Job.objects.filter(pk=created.pk).update(start_at=start)
    assert stored(created.pk).next_run_at == next_cron(YEARLY, zone="Asia/Tokyo", after=start)


def test_queryset_update_recomputes_only_rows_that_changed() -> None:
    keep = Job.objects.create(name="keep", task=ADD, args=[1], cron=NEW_YEAR)
    due = timezone.now() - timedelta(seconds=1)
    Job.objects.filter(pk=keep.pk).update(next_run_at=due)  # due, not yet claimed
    Job.objects.create(name="move", task=ADD, args=[1], cron=YEARLY)
    Job.objects.update(cron=NEW_YEAR)
    assert stored(keep.pk).next_run_at == due  # its schedule did not change: not skipped
    assert Job.objects.get(name="move").next_run_at == next_cron(NEW_YEAR)


def test_queryset_update_enabled() -> None:
    Job.objects.bulk_create([job(name="a"), job(name="b")])
    Job.objects.update(enabled=False)
    assert list(Job.objects.values_list("next_run_at", flat=True)) == [None, None]
    Job.objects.filter(name="a").update(enabled=True)
    assert Job.objects.get(name="a").next_run_at == next_cron(YEARLY)
    assert Job.objects.get(name="b").next_run_at is None


def test_queryset_update_with_a_bad_schedule_stores_nothing() -> None:
    created = Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY)
    with pytest.raises(ValidationError):
        Job.objects.update(cron="not a cron")
    row = stored(created.pk)
    assert (row.cron, row.next_run_at, row.version) == (YEARLY, next_cron(YEARLY), 0)


def test_queryset_update_of_other_fields_touches_updated_at_only() -> None:
    created = Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY)
    before = stored(created.pk)
    Job.objects.update(description="x")
    after = stored(created.pk)
    assert after.next_run_at == before.next_run_at
    assert after.updated_at > before.updated_at
    Job.objects.update(last_status="succeeded")  # a scheduler column: not a person's edit
    assert stored(created.pk).updated_at == after.updated_at


def test_bulk_update_of_the_schedule() -> None:
    Job.objects.bulk_create([job(name="a"), job(name="b")])
    rows = list(Job.objects.order_by("name"))
    rows[0].cron = NEW_YEAR
    rows[1].description = "only the description"
    Job.objects.bulk_update(rows, ["cron", "description"])
    a, b = Job.objects.order_by("name")
    assert a.next_run_at == next_cron(NEW_YEAR)
    assert b.next_run_at == next_cron(YEARLY)
    assert rows[0].version == 1  # read back from the database


def test_bulk_update_of_other_fields_keeps_next_run() -> None:
    created = Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY)
    stale = stored(created.pk)
    advanced = next_cron(YEARLY) + timedelta(days=365)
    Job.objects.filter(pk=created.pk).update(next_run_at=advanced)
    stale.description = "x"
    Job.objects.bulk_update([stale], ["description"])
    assert stored(created.pk).next_run_at == advanced


# -- deletes ---------------------------------------------------------------------------


def test_delete_keeps_runs_with_the_job_name() -> None:
    created = Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY)
    run = created.run_now()
    created.delete()
    run.refresh_from_db()
    assert (run.job_id, run.job_name) == (None, "a")


def test_queryset_delete_unschedules() -> None:
    Job.objects.bulk_create([job(name="a"), job(name="b")])
    Job.objects.get(name="a").run_now()
    Job.objects.all().delete()
    assert not Job.objects.due(in_future(days=800)).exists()
    assert JobRun.objects.get().job_name == "a"


# -- the admin's bulk actions ----------------------------------------------------------


@pytest.fixture
def admin_client() -> Client:
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def admin_action(client: Client, action: str, *jobs: Job, **extra: str) -> None:
    response = client.post(
        reverse("admin:tablecron_job_changelist"),
        {"action": action, "_selected_action": [j.pk for j in jobs], **extra},
    )
    assert response.status_code == 302, response.content[:2000]


def test_admin_pause_and_resume_actions(admin_client: Client) -> None:
    a, b = Job.objects.bulk_create([job(name="a"), job(name="b")])
    admin_action(admin_client, "pause", a, b)
    assert list(Job.objects.values_list("next_run_at", flat=True)) == [None, None]
    admin_action(admin_client, "resume", a)
    assert stored(a.pk).next_run_at == next_cron(YEARLY)
    assert stored(b.pk).next_run_at is None


def test_admin_bulk_delete_unschedules(admin_client: Client) -> None:
    a, b, _ = Job.objects.bulk_create([job(name="a"), job(name="b"), job(name="c")])
    admin_action(admin_client, "delete_selected", a, b, post="yes")
    assert list(Job.objects.values_list("name", flat=True)) == ["c"]


def test_admin_run_now_action(admin_client: Client) -> None:
    (a,) = Job.objects.bulk_create([job(name="a")])
    admin_action(admin_client, "run_now", a)
    run = JobRun.objects.get()
    assert (run.job_id, run.trigger, run.status) == (a.pk, "manual", "scheduled")
    assert stored(a.pk).next_run_at == next_cron(YEARLY)


def test_save_of_a_row_loaded_with_deferred_fields(django_assert_num_queries: Any) -> None:
    created = Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY, description="d")
    partial = Job.objects.defer("description").get(pk=created.pk)
    partial.name = "b"
    # No query to load the deferred field (the audit trail's two queries aside).
    with override_settings(TABLECRON={"AUDIT_TRAIL": False}), django_assert_num_queries(1):
        partial.save()
    row = stored(created.pk)
    assert (row.name, row.description, row.next_run_at) == ("b", "d", next_cron(YEARLY))


def test_bulk_create_upsert_updates_next_run() -> None:
    Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY)
    target = (
        {"unique_fields": ["name"]}
        if connection.features.supports_update_conflicts_with_target
        else {}
    )
    Job.objects.bulk_create(
        [job(name="a", cron=NEW_YEAR)], update_conflicts=True, update_fields=["cron"], **target
    )
    assert Job.objects.get(name="a").next_run_at == next_cron(NEW_YEAR)
