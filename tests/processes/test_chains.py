"""Real ``tablecron scheduler`` processes: jobs that follow jobs (``Job.after``) run once
per success of their upstream job, down the chain, and never after a failure.

The followers' task writes each call to a file with the time its run was scheduled for,
which is its upstream run's end: the check compares that file with the upstream runs
that succeeded, not with the follower runs alone.
"""

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
from django.db import connection

from tablecron.models import Job, JobRun, SchedulerInstance
from tests.support.factories import T
from tests.support.processes import (
    calls,
    celery_env,
    celery_workers,
    child_env,
    report,
    schedulers,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)
CHAINS = 4
# Each upstream job's successes before it is paused (one a second).
SUCCESSES = 6


def chain_jobs(path: Path) -> None:
    """Per chain: "ok-N" every second, "ok-N-next" after it and "ok-N-last" after that;
    "bad-N" failing every second, with "bad-N-next" after it."""

    def job(name: str, task: str, **fields: Any) -> Job:
        kwargs = {"path": str(path), "label": name} if task == "record" else {}
        return Job.objects.create(name=name, task=T + task, kwargs=kwargs, **fields)

    # Paused until the chains are whole: a run claimed before its job had followers
    # triggers none (docs/howto.md).
    every_second = {"cron": "* * * * * *", "coalesce": False, "max_instances": 5}
    for n in range(CHAINS):
        ok = job(f"ok-{n}", "record", enabled=False, **every_second)
        job(f"ok-{n}-last", "record", after=job(f"ok-{n}-next", "record", after=ok))
        bad = job(f"bad-{n}", "fail", enabled=False, **every_second)
        job(f"bad-{n}-next", "record", after=bad)
    Job.objects.filter(after=None).update(enabled=True)


def next_link(name: str) -> str:
    """The job that runs after ``name``: ok-N-next after ok-N, ok-N-last after that."""
    return f"{name}-next" if name.count("-") == 1 else name.replace("-next", "-last")


@contextmanager
def two_schedulers(executor: str, logs: Path) -> Iterator[list[Popen[bytes]]]:
    """Two schedulers on ``executor``, with two workers of its own if it has any."""
    with ExitStack() as stack:
        if executor == "celery":
            pytest.importorskip("celery")
            env = celery_env()
            stack.enter_context(celery_workers(2, logs, env))
        elif executor == "django_tasks":
            pytest.importorskip("django_tasks_db")
            from tests.executors.test_django_tasks import SETTINGS, db_workers

            env = child_env(**SETTINGS)
            stack.enter_context(db_workers(2, logs, env))
        else:
            env = child_env(EXECUTOR=executor)
        yield stack.enter_context(schedulers(2, logs, env))


@pytest.mark.parametrize("executor", ["thread", "process", "celery", "django_tasks"])
def test_a_chain_runs_once_per_upstream_success_and_never_after_a_failure(
    executor: str, tmp_path: Path
) -> None:
    if executor != "thread" and connection.vendor != "postgresql":
        # What the database proves is proved on each with the thread executor; each
        # executor ends its runs through the same outcomes: once, on PostgreSQL (CI time).
        pytest.skip("the other executors: on PostgreSQL")
    path = tmp_path / "calls.log"
    with two_schedulers(executor, tmp_path) as procs:
        wait_for(lambda: SchedulerInstance.objects.count() == 2, 60, "schedulers")
        chain_jobs(path)
        upstream = Job.objects.filter(after=None)
        succeeded = JobRun.objects.filter(job__name__startswith="ok-", status="succeeded")
        wait_for(
            lambda: succeeded.filter(job__after=None).count() >= CHAINS * SUCCESSES,
            60,
            "the upstream jobs to succeed",
        )
        upstream.update(enabled=False)
        # Runs in flight end, and the runs they trigger wait, run and trigger theirs.
        wait_for(lambda: not JobRun.objects.active().exists(), 60, "the chains to run out")
    assert [proc.returncode for proc in procs] == [0, 0]
    recorded = calls(path)
    report(f"chains, {executor}", recorded)
    # Each success of ok-N, and of ok-N-next, is followed by one call of the next link,
    # scheduled for the moment that success ended.
    links_ended = succeeded.exclude(job__name__endswith="-last").values_list(
        "job__name", "finished_at"
    )
    expected = Counter((next_link(name), ended) for name, ended in links_ended)
    followed = Counter(
        (call.label, call.scheduled_for) for call in recorded if call.label.count("-") == 2
    )
    assert followed == expected
    assert max(followed.values()) == 1
    lasts = sum(n for (label, _), n in followed.items() if label.endswith("-last"))
    assert lasts >= CHAINS * SUCCESSES
    # Each follower run names the upstream run it follows, once.
    links = Counter(JobRun.objects.filter(trigger="after").values_list("upstream_run", flat=True))
    assert len(links) == sum(expected.values())
    assert set(links.values()) == {1}
    # The failing jobs failed, and nothing ran after them.
    assert JobRun.objects.filter(job__name__startswith="bad-", status="failed").exists()
    assert not JobRun.objects.filter(job__name__startswith="bad-", trigger="after").exists()
    assert not [call for call in recorded if call.label.startswith("bad-")]
