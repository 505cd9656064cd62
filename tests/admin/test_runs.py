"""Where each run executes, in the admin: executor, worker host, queue, the engine's id, time
queued and running; runs waiting in a queue; and the schedulers and workers."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tablecron.models import Job, JobRun, RunOutput, RunStatus, SchedulerInstance
from tablecron.models.scheduler import Role
from tests.support.factories import CELERY_WORKER, SCHEDULER, TASK_ID, job, runs_of_each_kind

pytestmark = pytest.mark.django_db

JOBS = reverse("admin:tablecron_job_changelist")
RUNS = reverse("admin:tablecron_jobrun_changelist")
SCHEDULERS = reverse("admin:tablecron_schedulerinstance_changelist")


def row_of(page: str, name: str) -> str:
    start = page.index(f">{name}</a>")
    return page[page.rindex("<tr", 0, start) : page.index("</tr>", start)]


def test_the_run_list_shows_where_and_how_long_each_run_executed(admin_client: Client) -> None:
    runs_of_each_kind(timezone.now())
    page = admin_client.get(RUNS).content.decode()

    celery = row_of(page, "by-celery")
    assert 'class="field-executor_column">celery<br><span class="tablecron-quiet"' in celery
    assert ">reports</span>" in celery
    assert f'<span title="{CELERY_WORKER}">host1</span>' in celery
    assert f'<code class="tablecron-quiet" title="Engine&#x27;s id: {TASK_ID}">9f1c2d3e…' in celery
    assert '<td class="field-queued_column">5.00 s</td>' in celery
    assert '<td class="field-running_column">1 min 30 s</td>' in celery

    thread = row_of(page, "by-thread")
    assert '<span title="sched-host:11:a1b2c3">sched-host</span>' in thread
    assert '<td class="field-queued_column">0 ms</td>' in thread
    assert '<td class="field-running_column">2.00 s</td>' in thread

    running = row_of(page, "by-django-tasks")
    assert ">host2</span>" in running
    assert 'Engine&#x27;s id: 42">42</code>' in running
    assert re.search(r'field-running_column">1 min [01] s<', running)  # still running: until now

    queued = row_of(page, "in-a-queue")
    assert re.search(r'tablecron-waiting" title="Sent to celery at [^"]+">queued for 3 min', queued)
    assert "within 1 h 0 min (QUEUED_LIMIT)" in queued
    assert '<td class="field-running_column">—</td>' in queued

    pending = row_of(page, "not-claimed")
    assert ">scheduled</span>" in pending
    assert '<td class="field-queued_column">—</td>' in pending


def test_a_run_page_shows_where_it_ran_and_tells_its_story(admin_client: Client) -> None:
    runs = runs_of_each_kind(timezone.now())
    JobRun.objects.filter(pk=runs["celery"].pk).update(claimed_by=SCHEDULER)
    url = reverse("admin:tablecron_jobrun_change", args=[runs["celery"].pk])
    page = admin_client.get(url).content.decode()
    boxes = re.findall(r'fieldBox field-(\w+)">.*?<div class="readonly">(.*?)</div>', page, re.S)
    fields = dict(boxes)
    assert fields["executor"] == "celery"
    assert fields["queue"] == "reports"
    assert fields["claimed_by"] == SCHEDULER
    assert fields["worker"] == CELERY_WORKER
    assert TASK_ID in page

    steps = story(page)
    assert [step[1] for step in steps] == [
        "Scheduled for",
        "Claimed and queued",
        "Started",
        "Ended",
    ]
    # The time each step took: claimed on time, queued 5 s, ran 1 min 30 s.
    assert [step[0] for step in steps] == ["", "+0 ms", "+5.00 s", "+1 min 30 s"]
    assert f"by scheduler {SCHEDULER}, executor celery, queue reports" in steps[1][2]
    assert f"by worker {CELERY_WORKER}" in steps[2][2]
    assert ">succeeded</span>" in steps[3][2]
    assert "tablecron-step-now" not in page  # it has ended: nothing to wait for

    queued = reverse("admin:tablecron_jobrun_change", args=[runs["queued"].pk])
    page = admin_client.get(queued).content.decode()
    assert ">queued for 3 min" in page
    assert re.search(r'step-now"><span class="tablecron-step-took">\+3 min 0 s</span>'
                     r"<strong>Waiting for a worker, so far", page)  # fmt: skip


def story(page: str) -> list[tuple[str, str, str]]:
    """The steps of a run page's story: (time taken, name, the rest)."""
    start = page.index('<ol class="tablecron-story">')
    listed = page[start : page.index("</ol>", start)]
    return re.findall(
        r'<li><span class="tablecron-step-took">([^<]*)</span><strong>([^<]+)</strong>(.*?)</li>',
        listed,
    )


def test_runs_are_filtered_by_executor_and_queue(admin_client: Client) -> None:
    runs_of_each_kind(timezone.now())
    job(name="other", queue="bulk").save()

    def names(**query: str) -> set[str]:
        page = admin_client.get(RUNS, query).content.decode()
        return set(re.findall(r'class="field-job_column"><a href="[^"]+">([^<]+)</a>', page))

    assert names(executor="celery") == {"by-celery", "in-a-queue"}
    assert names(executor="django_tasks") == {"by-django-tasks"}
    assert names(queue="reports") == {"by-celery", "in-a-queue"}
    assert names(executor="celery", queue="bulk") == set()
    assert names(executor="my_engine") == set()  # a project's own executor: no error
    page = admin_client.get(RUNS).content.decode()
    for choice in ("executor=thread", "executor=process", "executor=celery", "queue=bulk"):
        assert f'href="?{choice}"' in page
    custom = admin_client.get(RUNS, {"executor": "my_engine"}).content.decode()
    assert 'href="?executor=my_engine"' in custom


def test_runs_are_found_by_engine_id_and_worker(admin_client: Client) -> None:
    runs_of_each_kind(timezone.now())
    page = admin_client.get(RUNS, {"q": TASK_ID}).content.decode()
    assert page.count('class="field-job_column"') == 1
    assert ">by-celery</a>" in page
    assert admin_client.get(RUNS, {"q": "host2"}).content.decode().count("field-job_column") == 1


def test_the_job_page_lists_its_runs_with_executor_host_and_times(admin_client: Client) -> None:
    runs_of_each_kind(timezone.now())
    report = Job.objects.get(name="report")
    page = admin_client.get(reverse("admin:tablecron_job_change", args=[report.pk]))
    text = page.content.decode()
    assert ">queued for 3 min" in text
    assert re.search(r'field-executor_column">\s*<p>django_tasks</p>', text)
    assert f'<span title="{CELERY_WORKER}">host1</span>' in text


def test_the_job_list_says_queued_and_names_the_queue(admin_client: Client) -> None:
    now = timezone.now()
    runs = runs_of_each_kind(now)
    job(name="plain").save()
    newest = runs["pending"]
    newest.delete()
    Job.objects.filter(name="report").update(
        last_run_at=runs["running"].scheduled_for, last_status=RunStatus.RUNNING
    )
    page = admin_client.get(JOBS).content.decode()
    assert 'class="tablecron-quiet">queue: reports</span>' in row_of(page, "report")
    assert "queue:" not in row_of(page, "plain")
    assert ">running</span>" in row_of(page, "report")

    Job.objects.filter(name="report").update(
        last_run_at=runs["queued"].scheduled_for, last_status=RunStatus.SCHEDULED
    )
    report = row_of(admin_client.get(JOBS).content.decode(), "report")
    assert ">queued for 3 min" in report  # the last run
    assert re.search(r'title="[^"]+ · queued for 3 min', report)  # its mark in the strip


def test_queued_runs_keep_the_job_list_at_six_queries(admin_client: Client) -> None:
    now = timezone.now()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(JOBS).status_code == 200
        return len(captured)

    for n in range(5):
        target = job(name=f"queued-{n}", queue="reports")
        target.save()
        JobRun.objects.create(
            job=target, scheduled_for=now, executor="celery", queue="reports",
            worker=SCHEDULER, queued_at=now, status=RunStatus.SCHEDULED,
        )  # fmt: skip
        Job.objects.filter(pk=target.pk).update(last_run_at=now, last_status=RunStatus.SCHEDULED)
        assert queries() == 6  # the session, the user, schedulers, count, page, recent runs


def beating(pk: str, role: str, seconds_ago: int = 0) -> SchedulerInstance:
    at = timezone.now() - timedelta(seconds=seconds_ago)
    host = pk.rpartition("@")[2].split(":")[0]
    return SchedulerInstance.objects.create(
        id=pk, role=role, host=host, pid=1, started_at=at, heartbeat_at=at
    )


def test_schedulers_and_workers_are_listed_with_their_role(admin_client: Client) -> None:
    beating(SCHEDULER, Role.SCHEDULER)
    worker = beating(CELERY_WORKER, Role.WORKER)
    page = admin_client.get(SCHEDULERS).content.decode()
    assert "<h1>Schedulers and workers</h1>" in page
    assert '<td class="field-role">worker</td>' in page
    assert '<td class="field-role">scheduler</td>' in page
    assert 'href="?role__exact=worker"' in page
    workers = admin_client.get(SCHEDULERS, {"role__exact": "worker"}).content.decode()
    assert CELERY_WORKER in workers
    assert SCHEDULER not in workers

    url = reverse("admin:tablecron_schedulerinstance_change", args=[worker.pk])
    assert "<h1>View worker</h1>" in admin_client.get(url).content.decode()


def test_a_live_worker_is_not_a_scheduler_for_the_warning(admin_client: Client) -> None:
    beating(CELERY_WORKER, Role.WORKER)
    assert "No scheduler is running" in admin_client.get(JOBS).content.decode()
    beating(SCHEDULER, Role.SCHEDULER)
    assert "No scheduler is running" not in admin_client.get(JOBS).content.decode()


def run_page(client: Client, run: JobRun) -> str:
    return client.get(reverse("admin:tablecron_jobrun_change", args=[run.pk])).content.decode()


def test_a_run_page_links_the_other_attempts_of_its_fire(admin_client: Client) -> None:
    target = job(name="retried", max_retries=2)
    target.save()
    at = timezone.now() - timedelta(minutes=5)
    first, second, third = (
        JobRun.objects.create(
            job=target, scheduled_for=at, attempt=n, status=status,
            trigger="schedule" if n == 1 else "retry", not_before=at + timedelta(minutes=n - 1),
        )
        for n, status in ((1, "failed"), (2, "failed"), (3, "succeeded"))
    )  # fmt: skip
    page = run_page(admin_client, second)
    related = page[page.index('<dl class="tablecron-related">') :].split("</dl>")[0]
    links = re.findall(r'<a href="/admin/tablecron/jobrun/(\d+)/change/">([^<]+)</a>', related)
    assert links == [(str(first.pk), "attempt 1"), (str(third.pk), "attempt 3")]
    # A retry waited for its delay: a step of its own.
    assert [step[1] for step in story(page)][:2] == ["Scheduled for", "Not before"]
    assert "a retry: attempt 2" in story(page)[0][2]
    assert "+1 min 0 s" in story(page)[1][0]


def test_a_run_page_shows_its_arguments_or_why_it_has_none(admin_client: Client) -> None:
    target = job(name="adder")
    target.save()
    now = timezone.now()
    ran = JobRun.objects.create(
        job=target, scheduled_for=now, status="succeeded", args=[1, 2], kwargs={"b": 3}
    )
    page = run_page(admin_client, ran)
    assert re.search(
        r'field-args_column">.*?<pre class="tablecron-pre">\[\s+1,\s+2\s+\]', page, re.S
    )
    assert "&quot;b&quot;: 3" in page
    before = JobRun.objects.create(
        job=target, scheduled_for=now - timedelta(days=1), status="failed"
    )
    assert "not recorded (it ran before runs kept their arguments)" in run_page(
        admin_client, before
    )
    waiting = target.run_now()
    assert "its job&#x27;s, when a scheduler claims it" in run_page(admin_client, waiting)


def test_a_job_page_shows_its_recent_durations_and_last_output(admin_client: Client) -> None:
    target = job(name="timed")
    target.save()
    start = timezone.now() - timedelta(days=1)
    # 120 runs that took 1 … 120 s, newest longest; the last 100 count: 21 … 120 s.
    JobRun.objects.bulk_create(
        JobRun(
            job=target, job_name="timed", scheduled_for=start + timedelta(minutes=n),
            started_at=start + timedelta(minutes=n),
            finished_at=start + timedelta(minutes=n, seconds=n), status="succeeded",
        )
        for n in range(1, 121)
    )  # fmt: skip
    last = JobRun.objects.get(job=target, scheduled_for=start + timedelta(minutes=120))
    JobRun.objects.create(job=target, scheduled_for=timezone.now(), status="scheduled")  # no start
    lines = "".join(f"2026 stdout line {n}\n" for n in range(1, 51))
    RunOutput.objects.create(run=last, offset=0, text=lines)
    page = admin_client.get(reverse("admin:tablecron_job_change", args=[target.pk]))
    text = page.content.decode()
    # Nearest rank of 21 … 120 s: the 50th is 70 s, the 95th 115 s.
    assert (
        "p50 <strong>1 min 10 s</strong> · p95 <strong>1 min 55 s</strong> "
        '<span class="tablecron-quiet">over its last 100 runs</span>'
    ) in text
    tail = text[text.index("field-last_output_column") :].split("</pre>")[0]
    assert f'href="/admin/tablecron/jobrun/{last.pk}/change/"' in tail
    assert "its last 40 lines:" in tail
    assert "line 11\n" in tail
    assert "line 10\n" not in tail
    assert tail.rstrip().endswith("line 50")


def test_a_job_page_before_any_run(admin_client: Client) -> None:
    target = job(name="new")
    target.save()
    text = admin_client.get(reverse("admin:tablecron_job_change", args=[target.pk])).content
    assert "No run has started yet." in text.decode()
    assert re.search(
        r'field-durations_column">.*?<div class="readonly"><span class="tablecron-quiet">—',
        text.decode(),
        re.S,
    )
