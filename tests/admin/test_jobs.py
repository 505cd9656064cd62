"""The admin's job list, actions, runs and schedulers, through Django's test client."""

import html
import itertools
import re
import time
from datetime import timedelta

import pytest
from django.db import connection, models
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tablecron.admin.actions import copy_names, duplicate_job
from tablecron.models import Job, JobRun, RunStatus, RunTrigger, SchedulerInstance
from tests.support.factories import ADD, YEARLY, T, job, signed_in

pytestmark = pytest.mark.django_db

JOBS = reverse("admin:tablecron_job_changelist")
RUNS = reverse("admin:tablecron_jobrun_changelist")


def add_runs(target: Job, statuses: list[str], **fields: object) -> list[JobRun]:
    """Runs of ``target``, one minute apart, the last status the newest."""
    start = timezone.now() - timedelta(minutes=len(statuses))
    runs = [
        JobRun(
            job=target,
            job_name=target.name,
            scheduled_for=start + timedelta(minutes=n),
            started_at=start + timedelta(minutes=n),
            finished_at=start + timedelta(minutes=n, seconds=2),
            status=status,
            **fields,
        )
        for n, status in enumerate(statuses)
    ]
    JobRun.objects.bulk_create(runs)
    Job.objects.filter(pk=target.pk).update(
        last_run_at=runs[-1].scheduled_for, last_status=statuses[-1]
    )
    return runs


def alive_scheduler() -> SchedulerInstance:
    now = timezone.now()
    return SchedulerInstance.objects.create(
        id="test:1", host="test", pid=1, started_at=now, heartbeat_at=now
    )


def test_job_list_shows_schedule_in_words_runs_and_times(admin_client: Client) -> None:
    weekly = job(name="weekly", cron="0 9 * * 1", timezone="Asia/Shanghai")
    weekly.save()
    job(name="pinger", cron="", interval=timedelta(seconds=30)).save()
    job(name="by-hand", cron="").save()
    add_runs(weekly, [RunStatus.SUCCEEDED] * 12 + [RunStatus.FAILED, RunStatus.SUCCEEDED])

    page = admin_client.get(JOBS).content.decode()

    assert "At 09:00, only on Monday (Asia/Shanghai)" in page
    assert "Every 30 seconds" in page
    assert "Manual only" in page
    assert "manual only" in page
    row = page[page.index(">weekly<") :].split("</tr>")[0]
    marks = re.findall(r'class="tablecron-mark tablecron-(\w+)"', row)
    assert marks == ["ok"] * 8 + ["bad", "ok"]  # the newest ten, oldest first
    assert 'class="tablecron-badge tablecron-ok">succeeded<' in row
    assert "2.00 s" in row  # the last run's duration
    assert re.search(r"in \d+\s(day|hour|minute)s?", row)  # the next run, relative


def test_a_failing_job_stands_out(admin_client: Client) -> None:
    failing = job(name="failing")
    failing.save()
    add_runs(failing, [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT])
    page = admin_client.get(JOBS).content.decode()
    assert 'class="tablecron-badge tablecron-bad">timed out<' in page
    assert page.count("tablecron-mark tablecron-bad") == 2


def test_filters_and_search(admin_client: Client) -> None:
    job(name="alpha", description="sends the invoices").save()
    job(name="beta", task="tests.testapp.tablecron_jobs.noop", args=[], enabled=False).save()
    assert ">beta<" not in admin_client.get(JOBS, {"enabled__exact": "1"}).content.decode()
    found = admin_client.get(JOBS, {"task": "tests.testapp.tablecron_jobs.noop"}).content.decode()
    assert ">beta<" in found
    assert ">alpha<" not in found
    searched = admin_client.get(JOBS, {"q": "invoices"}).content.decode()
    assert ">alpha<" in searched
    assert ">beta<" not in searched
    filters = admin_client.get(JOBS).content.decode()
    assert "?task=tests.testapp.tablecron_jobs.noop" in filters
    assert "?last_status__exact=failed" in filters


def test_warning_when_no_scheduler_is_alive(admin_client: Client) -> None:
    assert "No scheduler is running" in admin_client.get(JOBS).content.decode()
    SchedulerInstance.objects.create(
        id="old:1",
        host="old",
        pid=1,
        started_at=timezone.now() - timedelta(hours=2),
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    assert "No scheduler is running" in admin_client.get(JOBS).content.decode()
    alive_scheduler()
    assert "No scheduler is running" not in admin_client.get(JOBS).content.decode()


def make_jobs(start: int, stop: int) -> None:
    """``stop - start`` cron jobs named from ``job-<start>``: the first 2,000 built here
    (the plain QuerySet skips computing each next run, which the list only reads), the
    rest copied by the database, doubling, as building 100,000 model instances took
    minutes of CPU."""
    next_run = timezone.now() + timedelta(hours=1)
    first = min(stop, start + 2000)
    plain: models.QuerySet[Job] = models.QuerySet(Job)
    plain.bulk_create(
        Job(
            name=f"job-{n:06d}",
            task=ADD,
            args=[n],
            cron=YEARLY if n % 2 else "*/5 * * * *",
            next_run_at=next_run,
        )
        for n in range(start, first)
    )
    made, copy = first - start, 0
    while made < stop - start:
        copy += 1
        made += copy_jobs(f"job-{start:06d}", f"job-{first:06d}", stop - start - made, copy)


def copy_jobs(low: str, high: str, count: int, copy: int) -> int:
    """Copy the first ``count`` jobs named from ``low`` up to ``high``, their names with
    ``-<copy>`` added, in one INSERT … SELECT."""
    fields = [f for f in Job._meta.concrete_fields if not f.primary_key]
    columns = {f"c{i}": F(f.attname) for i, f in enumerate(fields)}
    columns[f"c{fields.index(Job._meta.get_field('name'))}"] = Concat("name", Value(f"-{copy}"))
    rows = (
        Job.objects.filter(name__gte=low, name__lt=high)
        .order_by("pk")
        .annotate(**columns)
        .values_list(*columns)[:count]
    )
    sql, params = rows.query.sql_with_params()
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        # MariaDB reads no table it inserts into in a subquery of its own: a derived table
        # is materialised first.
        cursor.execute(
            f"INSERT INTO {Job._meta.db_table} ({names}) SELECT * FROM ({sql}) copied", params
        )
        return cursor.rowcount


def give_runs(jobs: list[Job], per_job: int) -> None:
    base = timezone.now() - timedelta(days=1)
    JobRun.objects.bulk_create(
        (
            JobRun(
                job=target,
                job_name=target.name,
                scheduled_for=base + timedelta(minutes=n),
                status=RunStatus.FAILED if n % 7 == 0 else RunStatus.SUCCEEDED,
            )
            for target in jobs
            for n in range(per_job)
        ),
        batch_size=2000,
    )


def list_queries(client: Client) -> tuple[int, float, str]:
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(JOBS)
    assert response.status_code == 200
    return len(queries), time.perf_counter() - started, response.content.decode()


def test_job_list_queries_stay_constant_at_100000_jobs(admin_client: Client) -> None:
    alive_scheduler()
    make_jobs(0, 10)
    give_runs(list(Job.objects.all()), per_job=12)
    small, _seconds, page = list_queries(admin_client)
    assert page.count('class="tablecron-mark') == 10 * 10

    make_jobs(10, 100_000)
    give_runs(list(Job.objects.order_by("name")[10:100]), per_job=15)
    large, seconds, page = list_queries(admin_client)

    print(f"\njob list on {connection.vendor}: {large} queries, {seconds * 1000:.0f} ms")
    # The session, the user, the live schedulers, the count, the page and the recent runs
    # of its jobs: the same six whatever the size of the table.
    assert large == small == 6
    assert "100000 jobs" in page
    assert page.count('class="tablecron-mark') == 100 * 10


def test_run_now_pause_and_resume_actions(admin_client: Client) -> None:
    first = job(name="first")
    first.save()
    job(name="second").save()
    pks = [str(pk) for pk in Job.objects.values_list("pk", flat=True)]

    response = admin_client.post(JOBS, {"action": "run_now", "_selected_action": pks})
    assert response.status_code == 302
    manual = JobRun.objects.filter(trigger=RunTrigger.MANUAL, status=RunStatus.SCHEDULED)
    assert manual.count() == 2

    admin_client.post(JOBS, {"action": "pause", "_selected_action": pks[:1]})
    first.refresh_from_db()
    assert (first.enabled, first.next_run_at) == (False, None)

    admin_client.post(JOBS, {"action": "resume", "_selected_action": pks[:1]})
    first.refresh_from_db()
    assert first.enabled
    assert first.next_run_at is not None


@override_settings(TABLECRON={"MANUAL_RUNS_PER_JOB": 2})
def test_run_now_stops_at_the_manual_runs_a_job_may_have(admin_client: Client) -> None:
    """Issue 20, item 7: each Run now added a run, however many were waiting. Beyond
    MANUAL_RUNS_PER_JOB the action says why, and adds none; "beside running ones" adds
    runs that max_instances does not hold back."""
    busy, idle = job(name="busy"), job(name="idle")
    busy.save()
    idle.save()
    for _ in range(2):
        admin_client.post(JOBS, {"action": "run_now", "_selected_action": [busy.pk]})
    response = admin_client.post(
        JOBS, {"action": "run_now", "_selected_action": [busy.pk, idle.pk]}, follow=True
    )
    said = [(m.level_tag, str(m)) for m in response.context["messages"]]
    assert ("success", "1 job will run shortly.") in said
    assert any(
        level == "error" and "“busy” was not run: it has 2 manual runs waiting" in text
        for level, text in said
    )
    assert busy.runs.count() == 2
    admin_client.post(JOBS, {"action": "run_now_beside_running", "_selected_action": [idle.pk]})
    assert list(idle.runs.values_list("ignore_max_instances", flat=True).order_by("pk")) == [
        False,
        True,
    ]


def test_viewers_do_not_see_secrets() -> None:
    """Issue 20, item 8: the read-only job page showed a viewer the job's arguments and
    webhook URL whole; values under keys that look secret and the webhook past its host
    are masked for anyone who may not change the job."""
    secret = {"user": "ops", "password": "hunter2"}
    webhook = "https://hooks.slack.com/services/T0/B0/XYZSECRET"
    saved = job(task=T + "async_noop", args=[], kwargs=secret, notify_webhook=webhook)
    saved.save()
    page = reverse("admin:tablecron_job_change", args=[saved.pk])
    viewer = signed_in(Client(), "viewer", ["view_job"]).get(page).content.decode()
    assert "hunter2" not in viewer
    assert "XYZSECRET" not in viewer
    assert "********" in viewer
    assert "ops" in viewer
    editor = signed_in(Client(), "editor", ["view_job", "change_job"]).get(page)
    assert "hunter2" in editor.content.decode()
    assert "XYZSECRET" in editor.content.decode()
    assert Job.objects.get().kwargs == secret  # shown masked, never stored so


def test_duplicate_gives_unique_names_and_schedules_the_copies(admin_client: Client) -> None:
    original = job(name="report", kwargs={"b": 2})
    original.save()
    for _ in range(3):
        admin_client.post(JOBS, {"action": "duplicate", "_selected_action": [original.pk]})
    names = set(Job.objects.values_list("name", flat=True))
    assert names == {"report", "report (copy)", "report (copy 2)", "report (copy 3)"}
    copy = Job.objects.get(name="report (copy 2)")
    assert (copy.task, copy.args, copy.kwargs, copy.cron) == (ADD, [1], {"b": 2}, YEARLY)
    assert copy.next_run_at == original.next_run_at is not None


def test_copy_names_fit_the_name_column() -> None:
    names = copy_names("x" * 200)
    assert next(names) == "x" * 193 + " (copy)"
    assert len(next(names)) == 200


def test_a_duplicate_takes_the_first_free_name_past_a_hundred_taken() -> None:
    original = job(name="report")
    original.save()
    taken = itertools.islice(copy_names("report"), 101)
    Job.objects.bulk_create([job(name=name) for name in taken])
    assert duplicate_job(original).name == "report (copy 102)"


def test_bulk_delete_unschedules_and_keeps_the_runs(admin_client: Client) -> None:
    doomed = [job(name=f"doomed-{n}") for n in range(2)]
    for target in doomed:
        target.save()
        add_runs(target, [RunStatus.SUCCEEDED])
    job(name="kept").save()
    pks = [target.pk for target in doomed]

    confirm = admin_client.post(JOBS, {"action": "delete_selected", "_selected_action": pks})
    assert "Delete multiple objects" in confirm.content.decode()
    admin_client.post(JOBS, {"action": "delete_selected", "_selected_action": pks, "post": "yes"})

    assert list(Job.objects.values_list("name", flat=True)) == ["kept"]
    assert not Job.objects.due(timezone.now() + timedelta(days=400)).filter(pk__in=pks)
    runs = JobRun.objects.filter(job_name__startswith="doomed-")
    assert sorted(runs.values_list("job_name", "job")) == [("doomed-0", None), ("doomed-1", None)]


def test_change_page_lists_the_newest_runs_and_links_to_all(admin_client: Client) -> None:
    target = job(name="busy")
    target.save()
    runs = add_runs(target, [RunStatus.SUCCEEDED] * 25)
    url = reverse("admin:tablecron_job_change", args=[target.pk])
    page = admin_client.get(url).content.decode()
    shown = re.findall(r"/admin/tablecron/jobrun/(\d+)/change/", page)
    newest = [str(run.pk) for run in reversed(runs)][:20]
    assert list(dict.fromkeys(shown)) == newest
    assert f'href="{RUNS}?job={target.pk}">All 25 runs of this job' in page
    assert 'class="tablecron-upcoming-list"' in page  # the next five fire times


def test_run_list_filters_by_job_status_and_date(admin_client: Client) -> None:
    one, two = job(name="one"), job(name="two")
    one.save()
    two.save()
    add_runs(one, [RunStatus.SUCCEEDED, RunStatus.FAILED])
    add_runs(two, [RunStatus.SUCCEEDED])
    by_job = admin_client.get(RUNS, {"job": one.pk}).content.decode()
    assert by_job.count('class="field-job_column"') == 2
    assert ">one</a>" in by_job
    assert ">two</a>" not in by_job
    failed = admin_client.get(RUNS, {"status__exact": "failed"}).content.decode()
    assert failed.count('class="field-job_column"') == 1
    # A run of this very moment: the others, minutes old, are yesterday's just after
    # midnight in TIME_ZONE.
    JobRun.objects.create(job=two, job_name="two", scheduled_for=timezone.now())
    unfiltered = admin_client.get(RUNS).content.decode()
    today_link = re.search(r'href="(\?scheduled_for__gte=[^"]+)"[^>]*>Today<', unfiltered)
    assert today_link is not None
    page = admin_client.get(RUNS + html.unescape(today_link.group(1))).content.decode()
    today = timezone.localdate()
    expected = sum(timezone.localdate(run.scheduled_for) == today for run in JobRun.objects.all())
    assert page.count('class="field-job_column"') == expected > 0


def test_run_page_shows_traceback_and_pretty_result(admin_client: Client) -> None:
    target = job(name="broken")
    target.save()
    error = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: <bad>'
    (run,) = add_runs(target, [RunStatus.FAILED], error=error, result={"b": [1, 2], "a": "é"})
    page = admin_client.get(reverse("admin:tablecron_jobrun_change", args=[run.pk]))
    text = page.content.decode()
    assert '<pre class="tablecron-pre tablecron-traceback">Traceback' in text
    assert "ValueError: &lt;bad&gt;" in text  # escaped, not markup
    assert '{\n  "a": "é",\n  "b": [\n    1,\n    2\n  ]\n}' in html.unescape(text)
    assert 'name="_save"' not in text  # read-only


def test_runs_of_a_deleted_job_say_so(admin_client: Client) -> None:
    target = job(name="gone")
    target.save()
    add_runs(target, [RunStatus.SUCCEEDED])
    target.delete()
    page = admin_client.get(RUNS).content.decode()
    assert 'gone <span class="tablecron-quiet">(deleted)' in page


def test_scheduler_list_shows_which_are_alive(admin_client: Client) -> None:
    alive_scheduler()
    SchedulerInstance.objects.create(
        id="dead:2",
        host="dead",
        pid=2,
        started_at=timezone.now() - timedelta(hours=2),
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    page = admin_client.get(reverse("admin:tablecron_schedulerinstance_changelist"))
    text = page.content.decode()
    assert text.count('alt="True"') == 1
    assert text.count('alt="False"') == 1
    assert "1\xa0hour ago" in text
    assert reverse("admin:tablecron_schedulerinstance_add") not in text
