"""The metrics, scraped over HTTP from a real scheduler's port and from the view under a
real gunicorn of two processes, and read with the client library's own parser."""

import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.models import Count, Max

from tablecron.models import Job, JobRun, RunStatus, SchedulerInstance
from tests.support.factories import T, in_future
from tests.support.processes import child_env, fetch, free_port, gunicorn, start, stop, wait_for

pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.django_db(transaction=True)
SECOND = timedelta(seconds=1)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    status, body = fetch(url, headers)
    assert status == 200, body
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def ended_runs() -> dict[tuple[str, str], int]:
    """(job name, status) → how many runs ended so, by the database."""
    ended = JobRun.objects.exclude(status__in=[RunStatus.SCHEDULED, RunStatus.RUNNING])
    rows = ended.values("job_name", "status").annotate(n=Count("pk"))
    return {(row["job_name"], row["status"]): row["n"] for row in rows}


def counted(samples: Samples) -> bool:
    """Whether the counters say what the table does, of every run that ended."""
    return all(
        value(samples, "tablecron_fires_total", job_name=job, outcome=outcome) == count
        for (job, outcome), count in ended_runs().items()
    )


def scrape_when_counted(url: str, headers: dict[str, str] | None = None) -> Samples:
    """A scrape whose counters have caught up with the table: a run's end is written a
    moment before it is counted."""
    samples: Samples = {}

    def caught_up() -> bool:
        nonlocal samples
        samples = scrape(url, headers)
        return counted(samples)

    wait_for(caught_up, 10, "the counters to agree with the table")
    return samples


def settle(names: list[str]) -> None:
    """Pause the jobs and wait for their runs to end."""
    Job.objects.filter(name__in=names).update(enabled=False)
    wait_for(
        lambda: not JobRun.objects.filter(job_name__in=names).active().exists(), 30, "runs to end"
    )


def test_a_scheduler_serves_its_counts_and_the_tables_gauges_on_its_port(tmp_path: Path) -> None:
    Job.objects.create(name="ok", task=T + "noop", interval=SECOND)
    Job.objects.create(name="bad", task=T + "fail", interval=SECOND)
    # A job no scheduler knows the task of: due, and left waiting (the backlog).
    elsewhere = Job.objects.create(name="elsewhere", task="gone.task", interval=SECOND)
    JobRun.objects.create(  # and a run waiting for its time (a retry, say): queued
        job=elsewhere, scheduled_for=in_future(hours=1), not_before=in_future(hours=1)
    )
    port = free_port()
    args = [sys.executable, "-m", "django", "tablecron", "scheduler", "--metrics-port", str(port)]
    # The process executor: its children's counts reach the scheduler's port.
    env = child_env(HEARTBEAT_INTERVAL=1, EXECUTOR="process", MAX_WORKERS=2)
    proc = start(args, tmp_path / "scheduler.log", env)
    try:
        wait_for(
            lambda: (
                JobRun.objects.filter(job_name="ok", status="succeeded").count() >= 2
                and JobRun.objects.filter(job_name="bad", status="failed").count() >= 2
            ),
            30,
            "runs of both jobs",
        )
        settle(["ok", "bad"])
        samples = scrape_when_counted(f"http://127.0.0.1:{port}/metrics")
    finally:
        stop([proc])
    log = (tmp_path / "scheduler.log").read_text()
    assert "metrics at http://127.0.0.1:" in log
    ended = ended_runs()
    started = ended[("ok", "succeeded")] + ended[("bad", "failed")]
    assert value(samples, "tablecron_lateness_seconds_count") == started
    durations = value(samples, "tablecron_run_duration_seconds_count", job_name="ok")
    assert durations == ended["ok", "succeeded"]
    # The gauges read from the table at scrape time.
    last = JobRun.objects.filter(job_name="ok", status="succeeded").aggregate(t=Max("finished_at"))
    success = value(samples, "tablecron_job_last_success_timestamp_seconds", job_name="ok")
    assert success == pytest.approx(last["t"].timestamp(), abs=1e-3)
    assert value(samples, "tablecron_job_last_success_timestamp_seconds", job_name="bad") is None
    next_run = "tablecron_job_next_run_timestamp_seconds"
    assert value(samples, next_run, job_name="ok") is None  # paused
    assert value(samples, next_run, job_name="elsewhere")
    assert value(samples, "tablecron_due_jobs") == 1
    assert (value(samples, "tablecron_oldest_due_seconds") or 0) > 0
    assert value(samples, "tablecron_queued_runs") == 1
    assert value(samples, "tablecron_running_runs") == 0
    assert value(samples, "tablecron_live_instances", role="scheduler") == 1
    assert value(samples, "tablecron_live_instances", role="worker") == 0
    assert value(samples, "tablecron_database_up") == 1


def test_the_view_adds_up_every_gunicorn_workers_counts(tmp_path: Path) -> None:
    names = [f"job-{n}" for n in range(8)]
    Job.objects.bulk_create(Job(name=name, task=T + "noop", interval=SECOND) for name in names)
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    with gunicorn(2, tmp_path / "gunicorn.log", env=env, SCHEDULER_IN_WEB_WORKERS=True,
                  HEARTBEAT_INTERVAL=1, METRICS_TOKEN="s3cret") as (server, port):  # fmt: skip

        def both_fired() -> bool:
            assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
            runs = JobRun.objects.filter(status="succeeded")
            return runs.values("worker").distinct().count() >= 2

        wait_for(both_fired, 60, "runs by both workers")
        settle(names)
        url = f"http://127.0.0.1:{port}/tablecron/metrics"
        assert fetch(url)[0] == 401
        assert fetch(url, {"Authorization": "Bearer wrong"})[0] == 401
        token = {"Authorization": "Bearer s3cret"}
        first = scrape_when_counted(url, token)
        scrapes = [first] + [scrape(url, token) for _ in range(3)]
        schedulers = SchedulerInstance.objects.count()
    assert schedulers == 2
    assert sum(ended_runs()[name, "succeeded"] for name in names) >= len(names)
    for samples in scrapes:  # whichever worker answered, the sums of both workers' counts
        assert counted(samples)
        assert value(samples, "tablecron_live_instances", role="scheduler") == 2
