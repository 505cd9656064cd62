"""The convenience API, the run table, and the invariants the database itself enforces."""

import itertools
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, connection, models, transaction
from django.test import override_settings
from django.utils import timezone

from tablecron.exceptions import TooManyRuns
from tablecron.models import Job, JobRun
from tests.support.factories import ADD, YEARLY, in_future, job, next_cron

pytestmark = pytest.mark.django_db


def raw_update(queryset: "models.QuerySet[Job]", **values: object) -> int:
    """An UPDATE that skips tablecron's checks, as a stray SQL client would."""
    return models.QuerySet.update(queryset, **values)


def test_time_zone_defaults_to_settings() -> None:
    assert job().timezone == "Europe/Berlin"


def test_run_now_inserts_a_manual_run_and_leaves_the_schedule() -> None:
    created = Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY)
    run = created.run_now()
    assert (run.job, run.job_name, run.trigger, run.status, run.attempt) == (
        created,
        "a",
        "manual",
        "scheduled",
        1,
    )
    assert abs(run.scheduled_for - timezone.now()) < timedelta(seconds=5)
    assert Job.objects.get(pk=created.pk).next_run_at == next_cron(YEARLY)


def test_run_now_works_for_paused_and_manual_only_jobs() -> None:
    paused = Job.objects.create(name="p", task=ADD, args=[1], cron=YEARLY, enabled=False)
    manual = Job.objects.create(name="m", task=ADD, args=[1])
    assert paused.run_now().status == manual.run_now().status == "scheduled"


def test_run_now_is_capped_per_job_for_every_door() -> None:
    """Issue 20, item 7: MANUAL_RUNS_PER_JOB manual runs may wait or run per job; the next
    run_now(), rerun() included, raises TooManyRuns and adds none. Ended runs and other
    jobs' do not count."""
    capped = Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY)
    other = Job.objects.create(name="b", task=ADD, args=[1], cron=YEARLY)
    with override_settings(TABLECRON={"MANUAL_RUNS_PER_JOB": 2}):
        first = capped.run_now()
        capped.run_now(ignore_max_instances=True)
        with pytest.raises(TooManyRuns) as refused:
            capped.run_now()
        assert "“a” was not run: it has 2 manual runs waiting or running" in str(refused.value)
        with pytest.raises(TooManyRuns):
            first.rerun()
        other.run_now()
        JobRun.objects.filter(pk=first.pk).update(status="succeeded")
        assert first.rerun().rerun_of == first
    assert capped.runs.count() == 3


def test_fires_at_once_is_a_write_that_makes_the_job_due_now() -> None:
    """Issue 20, item 3: the line between scheduling a job and running it now is whether
    the write makes it due at once, as its own next fire time says."""
    now = timezone.now()
    past, future = now - timedelta(minutes=1), now + timedelta(minutes=1)
    assert job(cron="", run_at=past).fires_at_once(now)
    assert job(cron="", run_at=now).fires_at_once(now)
    assert not job(cron="", run_at=future).fires_at_once(now)
    assert not job(cron="* * * * * *").fires_at_once(now)  # next second: scheduled
    assert not job(cron="", interval=timedelta(seconds=1), start_at=past).fires_at_once(now)
    assert not job(cron="").fires_at_once(now)  # manual only
    assert not job(cron="", run_at=past, enabled=False).fires_at_once(now)
    once = job(cron="", run_at=future)
    once.save()
    once.description = "edited"
    assert not once.fires_at_once(future + timedelta(hours=1))  # overdue, but not by this
    once.run_at = past
    assert once.fires_at_once(now)
    paused = job(name="paused", cron="", run_at=past, enabled=False)
    paused.save()
    paused.enabled = True  # resuming a one-off whose time has passed fires nothing
    assert not paused.fires_at_once(now)
    assert not job(cron="", run_at=past, end_at=now - timedelta(hours=1)).fires_at_once(now)


def test_due_uses_the_database_clock_and_orders_earliest_first() -> None:
    now = timezone.now()
    Job.objects.bulk_create([job(name=name) for name in "abcd"])
    raw_update(Job.objects.filter(name="a"), next_run_at=now - timedelta(seconds=10))
    raw_update(Job.objects.filter(name="b"), next_run_at=now - timedelta(seconds=20))
    raw_update(Job.objects.filter(name="c"), next_run_at=now - timedelta(seconds=5))
    Job.objects.filter(name="c").update(enabled=False)
    assert [j.name for j in Job.objects.due()] == ["b", "a"]
    assert [j.name for j in Job.objects.due(now - timedelta(seconds=15))] == ["b"]


def test_upcoming_for_an_unsaved_job() -> None:
    times = job(cron="0 */6 * * *", timezone="UTC").upcoming(4)
    assert len(times) == 4
    assert all(t.hour % 6 == 0 and t.minute == 0 for t in times)
    assert times == sorted(times)
    assert times[0] > timezone.now()


def test_upcoming_for_a_saved_job_starts_at_next_run() -> None:
    created = Job.objects.create(name="a", task=ADD, args=[1], interval=timedelta(minutes=10))
    loaded = Job.objects.get(pk=created.pk)
    times = loaded.upcoming(3)
    assert times[0] == loaded.next_run_at
    assert [b - a for a, b in itertools.pairwise(times)] == [timedelta(minutes=10)] * 2


def test_upcoming_for_an_edited_unsaved_change_shows_the_edit() -> None:
    loaded = Job.objects.get(pk=Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY).pk)
    loaded.cron = "0 12 * * *"
    assert loaded.upcoming(1)[0] == next_cron("0 12 * * *")


def test_upcoming_is_empty_for_paused_manual_and_finished_jobs() -> None:
    assert job(enabled=False).upcoming() == []
    assert job(cron="").upcoming() == []
    once = Job.objects.create(name="o", task=ADD, args=[1], run_at=in_future(hours=1))
    raw_update(Job.objects.filter(pk=once.pk), next_run_at=None)  # it fired
    assert Job.objects.get(pk=once.pk).upcoming() == []


def test_upcoming_respects_end_at() -> None:
    end = in_future(minutes=35)
    assert len(job(cron="", interval=timedelta(minutes=10), end_at=end).upcoming(10)) == 3


def test_run_uniqueness_is_enforced_by_the_database() -> None:
    created = Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY)
    when = next_cron(YEARLY)
    JobRun.objects.create(job=created, scheduled_for=when)
    JobRun.objects.create(job=created, scheduled_for=when, attempt=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        JobRun.objects.create(job=created, scheduled_for=when)
    assert JobRun.objects.get(attempt=1).job_name == "a"


@pytest.mark.parametrize(
    "values",
    [
        {"interval": timedelta(minutes=1)},  # beside the cron: two kinds
        {"cron": "", "interval": timedelta(minutes=1), "run_at": timezone.now()},
        {"cron": "", "interval": timedelta(0)},
        {"start_at": timezone.now(), "end_at": timezone.now() - timedelta(days=1)},
        {"max_instances": 0},
        {"jitter": timedelta(seconds=-1)},
        {"timeout": timedelta(0)},
    ],
)
def test_invariants_are_database_constraints(values: dict[str, object]) -> None:
    created = Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY)
    with pytest.raises(IntegrityError), transaction.atomic():
        raw_update(Job.objects.filter(pk=created.pk), **values)


def test_duration_and_str() -> None:
    created = Job.objects.create(name="a", task=ADD, args=[1], cron=YEARLY)
    start = timezone.now()
    run = JobRun.objects.create(
        job=created, scheduled_for=start, started_at=start, finished_at=start + timedelta(seconds=3)
    )
    assert run.duration == timedelta(seconds=3)
    assert JobRun(job=created, scheduled_for=start).duration is None
    assert str(created) == "a"
    assert str(run).startswith("a @ ")


def test_the_due_query_uses_the_due_index() -> None:
    sql, params = Job.objects.due(timezone.now()).query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
        elif connection.vendor == "mysql":
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(str(cell) for row in cursor.fetchall() for cell in row)
    assert "tablecron_job_due" in plan, plan


def plan_of(sql: str, params: object = ()) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return " ".join(str(cell) for row in cursor.fetchall() for cell in row)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's partial indexes")
def test_the_links_null_for_most_rows_are_found_by_partial_indexes() -> None:
    """Migration 0019: they hold only the rows that link, yet serve the lookups and the
    foreign keys' SET NULL, whose statements PostgreSQL prepares with a parameter."""
    run, job = JobRun._meta.db_table, Job._meta.db_table
    with transaction.atomic():
        rerun = f"SELECT id FROM {run} WHERE rerun_of_id = 5"
        assert "tablecron_jobrun_rerun_of_id_f16bc27e" in plan_of(rerun)
        assert "tablecron_job_after_id_28f8cc9d" in plan_of(
            f"SELECT id FROM {job} WHERE after_id IN (SELECT unnest(%s::bigint[]))", ["{1,2}"]
        )
        with connection.cursor() as cursor:
            cursor.execute(f"PREPARE linked(bigint) AS SELECT id FROM {run} WHERE rerun_of_id = $1")
            cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            generic = plan_of("EXECUTE linked(5)")
            cursor.execute("DEALLOCATE linked")
        assert "tablecron_jobrun_rerun_of_id_f16bc27e" in generic
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
            [job, "%varchar_pattern_ops%"],
        )
        assert cursor.fetchall() == []
        partial = ["tablecron_job_after_id_28f8cc9d", "tablecron_jobrun_rerun_of_id_f16bc27e",
                   "tablecron_jobrun_follows_once"]  # fmt: skip
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = ANY(%s)", [partial])
        definitions = [row[0] for row in cursor.fetchall()]
        assert len(definitions) == 3
        assert all("IS NOT NULL" in d for d in definitions)


def test_a_follower_runs_once_for_each_upstream_run() -> None:
    upstream, follower = job(name="up"), job(name="down")
    upstream.save()
    follower.save()
    first = JobRun.objects.create(job=upstream, scheduled_for=timezone.now())
    JobRun.objects.create(job=follower, scheduled_for=first.scheduled_for, upstream_run=first)
    with pytest.raises(IntegrityError), transaction.atomic():
        JobRun.objects.create(job=follower, scheduled_for=in_future(minutes=1), upstream_run=first)
    # Runs that follow nothing are not held by that key.
    JobRun.objects.create(job=follower, scheduled_for=in_future(minutes=2))
    JobRun.objects.create(job=follower, scheduled_for=in_future(minutes=3))


def test_migrations_match_the_models() -> None:
    call_command("makemigrations", "tablecron", "--check", "--dry-run", verbosity=0)


def test_upcoming_for_validates_only_the_fields_given_and_stores_nothing() -> None:
    times = Job.upcoming_for(3, cron="30 9 * * 1", timezone="Asia/Shanghai")
    assert [t.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%a %H:%M") for t in times] == [
        "Mon 09:30"
    ] * 3
    with pytest.raises(ValidationError) as bad_cron:
        Job.upcoming_for(cron="61 * * * *")
    assert list(bad_cron.value.message_dict) == ["cron"]
    with pytest.raises(ValidationError) as two_kinds:
        Job.upcoming_for(cron="* * * * *", interval=timedelta(minutes=1))
    assert list(two_kinds.value.message_dict) == ["interval"]
    assert not Job.objects.exists()


@pytest.mark.parametrize("model", [Job, JobRun])
def test_every_index_in_the_database_is_in_the_models_state(model: type[models.Model]) -> None:
    """SQLite rebuilds a table from the model's state when a migration alters it: an
    index or unique key that only a migration's SQL made would be lost there."""
    # Migration 0018's left on SQLite, not on the state: the unique key (job, …) serves.
    redundant = {"tablecron_jobrun_job_id_f97d3330"}
    meta = model._meta
    declared = {index.name for index in meta.indexes} | {c.name for c in meta.constraints}
    by_column = {field.column: field for field in meta.concrete_fields}
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, meta.db_table)
    unknown = []
    for name, about in found.items():
        columns = about["columns"] or []
        field = by_column.get(columns[0]) if len(columns) == 1 else None
        of_a_field = field is not None and (field.db_index or field.unique or field.primary_key)
        if name in declared | redundant or about["foreign_key"] or about["check"] or of_a_field:
            continue
        unknown.append((name, columns))
    assert unknown == []
    assert declared <= set(found)
