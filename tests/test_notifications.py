"""Notifications: one per job per change (failing, silent, recovered), claimed by one
process however many look; delivered by Django's SMTP backend to a real SMTP server and
POSTed to a real HTTP receiver, retried when they fail."""

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from tablecron.db import db_now
from tablecron.executors.immediate import ImmediateExecutor
from tablecron.models import Job, JobRun, SchedulerInstance
from tablecron.notifications import TAIL_CHARS, Notice, claim_notices, deliver, tail
from tablecron.scheduler import Scheduler
from tests.support.admin_forms import form_data
from tests.support.factories import T, in_future, job
from tests.support.processes import child_env, free_port, schedulers, wait_for
from tests.support.receivers import smtp_server, smtp_settings, webhook_receiver

MINUTE = timedelta(minutes=1)


@pytest.mark.django_db
def test_each_change_is_told_once_and_the_quiet_period_holds_back_the_next() -> None:
    nightly = job(name="nightly", notify=True)
    nightly.save()
    job(name="quiet", notify=False, cron="").save()  # not opted in: its failures say nothing
    rows = Job.objects.all()
    now = db_now()
    for each in rows:
        ended(each, "failed", now)
    (failing,) = claim_notices(now)
    assert (failing.job_name, failing.event) == ("nightly", "failing")
    assert claim_notices(now) == []  # claimed: no other process tells it again
    for status in ("running", "failed", "missed"):  # no news: it is still failing
        rows.update(last_status=status)
        assert claim_notices(now + 10 * MINUTE) == []
    rows.update(last_status="succeeded")
    assert claim_notices(now + 4 * MINUTE) == []  # within NOTIFY_QUIET_PERIOD (5 minutes)
    (recovered,) = claim_notices(now + 5 * MINUTE)
    assert (recovered.job_name, recovered.event) == ("nightly", "recovered")
    assert claim_notices(now + 20 * MINUTE) == []


def ended(of: Job, status: str, at: datetime) -> JobRun:
    """A run of ``of`` that ended ``status`` at ``at``, its job's newest."""
    run = JobRun.objects.create(
        job=of, job_name=of.name, scheduled_for=at, status=status, started_at=at, finished_at=at
    )
    Job.objects.filter(pk=of.pk).update(last_run_at=at, last_status=status)
    return run


def run_once_now(scheduler: Scheduler, of: Job, task: str) -> JobRun:
    """Run ``of`` now with ``task``, through ``scheduler``'s loop; the run as it ended."""
    Job.objects.filter(pk=of.pk).update(task=T + task)
    run = of.run_now()
    scheduler.run_once()
    run.refresh_from_db()
    return run


@pytest.mark.django_db
def test_a_failure_followed_by_a_success_before_the_next_look_is_told() -> None:
    flaky = Job.objects.create(name="flaky", task=T + "fail", notify=True)
    before = db_now()
    scheduler = Scheduler(ImmediateExecutor())
    scheduler.run_once()  # it beats and looks for news: none
    failed = run_once_now(scheduler, flaky, "fail")
    succeeded = run_once_now(scheduler, flaky, "noop")  # both before its next heartbeat
    assert Job.objects.get().alert_state == "ok"  # nobody looked since
    assert (failed.status, succeeded.status) == ("failed", "succeeded")
    now = db_now()
    (failing,) = claim_notices(now)
    assert (failing.event, failing.status, failing.run_id) == ("failing", "failed", failed.pk)
    assert "RuntimeError: boom" in failing.error
    assert claim_notices(now + MINUTE) == []  # within NOTIFY_QUIET_PERIOD
    (recovered,) = claim_notices(now + 5 * MINUTE)
    assert (recovered.event, recovered.run_id) == ("recovered", succeeded.pk)
    assert (recovered.scheduled_for, recovered.host) == (
        succeeded.scheduled_for,
        succeeded.worker_host,
    )
    # Told once: later looks, whose window still holds the failure, say nothing.
    assert claim_notices(now + 6 * MINUTE) == []
    assert claim_notices(now + 7 * MINUTE, since=before) == []


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["lost", "missed"])
def test_a_run_ended_by_housekeeping_tells_its_job_is_failing(status: str) -> None:
    watched = job(name="nightly", notify=True)
    watched.save()
    now = db_now()
    at = now - 2 * MINUTE
    JobRun.objects.create(  # a dead scheduler's: running (lost), or queued (missed)
        job=watched, scheduled_for=at, worker="gone-host:1:abc", executor="celery",
        status="running" if status == "lost" else "scheduled", started_at=at, queued_at=at,
    )  # fmt: skip
    Job.objects.update(last_run_at=at, last_status="running")
    housekeeping = Scheduler(ImmediateExecutor()).housekeeping
    with override_settings(TABLECRON={**settings.TABLECRON, "QUEUED_LIMIT": 60}):
        assert housekeeping.reap_lost(now) + housekeeping.miss_unstarted(now) == 1
    (notice,) = claim_notices(now)
    assert (notice.event, notice.status) == ("failing", status)
    assert notice.error  # the run's own account of it


@pytest.mark.django_db
def test_a_dead_mans_switch_alerts_once_per_silence() -> None:
    watched = job(name="backup", alert_after=timedelta(hours=1))
    watched.save()
    now = db_now()
    assert claim_notices(now) == []  # an hour from its creation, not yet
    (silent,) = claim_notices(now + 61 * MINUTE)
    assert silent.event == "silent"
    assert "has not succeeded for 1:00:00 (last success: never)" in silent.text
    assert claim_notices(now + 200 * MINUTE) == []  # one alert per silence
    Job.objects.update(last_status="succeeded", last_success_at=now + 200 * MINUTE)
    (recovered,) = claim_notices(now + 201 * MINUTE)
    assert recovered.event == "recovered"
    (again,) = claim_notices(now + 261 * MINUTE)  # silent once more: a new silence
    assert again.event == "silent"
    Job.objects.update(enabled=False)  # a paused job is not expected to succeed
    Job.objects.update(alert_state="ok")
    assert claim_notices(now + 999 * MINUTE) == []


def test_a_delivery_that_keeps_failing_is_logged_and_given_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notice = Notice("backup", "silent", "failed", in_future(), None, MINUTE, "", (),
                    f"http://127.0.0.1:{free_port()}/nobody-listens")  # fmt: skip
    caplog.set_level(logging.WARNING, logger="tablecron")
    receivers = {"TABLECRON": {"WEBHOOK_ALLOWED_HOSTS": ["127.0.0.1"]}}  # else refused at once
    with (
        smtp_server() as (mailbox, port),
        override_settings(**smtp_settings(port), **receivers),
    ):
        assert deliver(notice, delays=[0.01, 0.01]) is False
    assert len(mailbox.messages) == 1  # the e-mail went; the webhook did not
    messages = [record.getMessage() for record in caplog.records]
    attempts = [message for message in messages if "could not send the webhook" in message]
    assert len(attempts) == 3
    assert "giving up" in attempts[-1]


@pytest.mark.django_db(transaction=True)
def test_schedulers_tell_each_failure_recovery_and_silence_once(tmp_path: Path) -> None:
    quiet = 1  # second: NOTIFY_QUIET_PERIOD
    with smtp_server() as (mailbox, smtp_port), webhook_receiver(failures=1) as (hook, url):
        # Several runs at once, and no coalescing: a run still being written when the next
        # is due (max_instances), or fires a busy scheduler claims late (coalesce), are
        # not recorded missed, so every failure is a failed run.
        every_second = {
            "interval": timedelta(seconds=1),
            "max_instances": 30,
            "coalesce": False,
            "notify": True,
        }
        Job.objects.create(name="flaky", task=T + "fail", **every_second,
                           notify_emails="dev@example.com, lead@example.com",
                           notify_webhook=url)  # fmt: skip
        Job.objects.create(name="to-admins", task=T + "fail", **every_second)
        # No scheduler can run it (its task is unknown to them): it goes silent.
        Job.objects.create(name="orphan", task="gone.task", alert_after=timedelta(seconds=2))
        env = {
            # The webhook's receiver is on 127.0.0.1, which only a host allowed may be.
            **child_env(
                HEARTBEAT_INTERVAL=0.5,
                NOTIFY_QUIET_PERIOD=quiet,
                WEBHOOK_ALLOWED_HOSTS=["127.0.0.1"],
                SITE_URL="http://ops.example.com:8080/tools/",
            ),
            "TABLECRON_TEST_SMTP_PORT": str(smtp_port),
        }
        with schedulers(2, tmp_path, env):

            def told(*subjects: str) -> bool:
                return all(any(s in told for told in mailbox.subjects()) for s in subjects)

            wait_for(
                lambda: (
                    told("'flaky' is failing", "'to-admins' is failing", "'orphan' has not")
                    and len(hook.received) == 1
                ),
                30,
                "the failures and the silence to be told",
            )
            Job.objects.filter(name="flaky").update(task=T + "noop")
            wait_for(lambda: told("'flaky' recovered") and len(hook.received) == 2, 30, "recovery")
            # Both schedulers look again, past the quiet period. Each looks for changes
            # right after each heartbeat: its next heartbeat means that look is done.
            instances = SchedulerInstance.objects.all()

            def both_beat_after(at: datetime) -> bool:
                return instances.filter(heartbeat_at__gt=at).count() == 2

            quiet_ended = db_now() + timedelta(seconds=quiet)
            wait_for(lambda: both_beat_after(quiet_ended), 30, "a look past the quiet period")
            latest = max(instances.values_list("heartbeat_at", flat=True))
            wait_for(lambda: both_beat_after(latest), 30, "those looks to be done")
    assert sorted(mailbox.subjects()) == [  # mail_admins() prefixes EMAIL_SUBJECT_PREFIX
        "[Django] tablecron: job 'orphan' has not succeeded for 0:00:02 (last success: never).",
        "[Django] tablecron: job 'to-admins' is failing: its last run failed.",
        "tablecron: job 'flaky' is failing: its last run failed.",
        "tablecron: job 'flaky' recovered: its last run succeeded.",
    ]
    recipients = {str(message["Subject"]).split("'")[1]: to for to, message in mailbox.messages}
    assert recipients == {
        "flaky": ["dev@example.com", "lead@example.com"],
        "to-admins": ["ops@example.com"],
        "orphan": ["ops@example.com"],
    }
    assert hook.attempts == 3, hook  # the first answered 500, and was retried
    failing, recovered = hook.received
    assert (failing["event"], failing["job"], failing["status"]) == ("failing", "flaky", "failed")
    assert failing["text"] == "tablecron: job 'flaky' is failing: its last run failed."
    assert "RuntimeError: boom" in failing["error"]
    run = JobRun.objects.get(pk=failing["run_id"])  # the run, told by a scheduler process
    assert (run.job_name, run.status) == ("flaky", "failed")
    assert failing["run_url"] == (
        f"http://ops.example.com:8080/tools/admin/tablecron/jobrun/{run.pk}/change/"
    )
    assert (failing["host"], failing["scheduled_for"]) == (
        run.worker_host,
        run.scheduled_for.isoformat(),
    )
    assert (recovered["event"], recovered["status"]) == ("recovered", "succeeded")


def failed_run(lines: int) -> JobRun:
    """A run of a job that notifies, which printed ``lines`` lines and failed."""
    loud = Job.objects.create(
        name="loud", task=T + "fail_loudly", args=[lines], notify=True,
        notify_emails="dev@example.com", notify_webhook="http://127.0.0.1/",
    )  # fmt: skip
    run = loud.run_now()
    Scheduler(ImmediateExecutor()).run_once()
    run.refresh_from_db()
    assert run.status == "failed"
    return run


def receivers_at(smtp_port: int, url: str, site_url: str) -> override_settings:
    """Mail to the test's SMTP server, webhooks to its receiver on 127.0.0.1, SITE_URL."""
    Job.objects.update(notify_webhook=url)
    tablecron = {"WEBHOOK_ALLOWED_HOSTS": ["127.0.0.1"], "SITE_URL": site_url}
    return override_settings(**smtp_settings(smtp_port), TABLECRON=tablecron)


@pytest.mark.django_db
def test_a_failure_is_told_with_the_runs_link_time_host_and_the_end_of_its_output() -> None:
    run = failed_run(30)
    with (
        smtp_server() as (mailbox, smtp_port),
        webhook_receiver() as (hook, url),
        receivers_at(smtp_port, url, "https://ops.example.com"),
    ):
        (notice,) = claim_notices(db_now())
        assert deliver(notice, delays=[]) is True
    link = f"https://ops.example.com/admin/tablecron/jobrun/{run.pk}/change/"
    ((to, message),) = mailbox.messages
    body = message.get_content().replace("\r\n", "\n")  # as SMTP carries it
    assert to == ["dev@example.com"]
    when = f"{timezone.localtime(run.scheduled_for):%Y-%m-%d %H:%M:%S %Z}"
    assert f"Run {run.pk}, scheduled for {when}, on {run.worker_host}." in body
    assert run.worker_host  # where it ran: this host
    assert f"See it in the admin: {link}" in body
    assert "RuntimeError: after the lines\n\nThe end of its output:" in body
    _, _, output = body.partition("The end of its output:\n\n")
    lines = output.splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [f"stdout line {n}" for n in range(10, 30)]
    (sent,) = hook.received
    assert sent["run_id"] == run.pk
    assert sent["run_url"] == link
    assert sent["scheduled_for"] == run.scheduled_for.isoformat()
    assert sent["host"] == run.worker_host
    assert sent["output"].splitlines() == lines


@pytest.mark.django_db
def test_without_site_url_a_failure_is_told_without_a_link() -> None:
    run = failed_run(2)
    with (
        smtp_server() as (mailbox, smtp_port),
        webhook_receiver() as (hook, url),
        receivers_at(smtp_port, url, ""),
    ):
        (notice,) = claim_notices(db_now())
        assert deliver(notice, delays=[]) is True
    ((_, message),) = mailbox.messages
    assert "admin" not in message.get_content()
    assert f"Run {run.pk}, scheduled for " in message.get_content()
    (sent,) = hook.received
    assert (sent["run_id"], sent["run_url"]) == (run.pk, None)
    assert sent["output"].endswith("stdout line 1")


def test_the_tail_is_the_last_lines_and_at_most_its_length() -> None:
    assert tail("".join(f"{n}\n" for n in range(100))) == "\n".join(map(str, range(80, 100)))
    assert tail("") == ""
    long = tail("short\n" + "x" * 10_000 + "\nend\n")
    assert len(long) == TAIL_CHARS
    assert long.startswith("…x")
    assert long.endswith("x\nend")


DOMAINS = {"NOTIFY_EMAIL_DOMAINS": ["example.com"]}


@pytest.mark.django_db
@override_settings(TABLECRON=DOMAINS)
def test_recipients_are_limited_to_the_allowed_domains(admin_client: Any) -> None:
    """Issue 20, item 9: a job's recipients could be any address, with the job's name as
    the subject. NOTIFY_EMAIL_DOMAINS limits them, in the model and the admin (the API:
    tests/contrib/rest_framework/test_jobs.py)."""
    ok = job(name="ok", notify_emails="ops@example.com, dev@mail.example.com")
    ok.full_clean()
    refused = job(name="refused", notify_emails="ops@example.com, x@example.com.evil.org")
    with pytest.raises(ValidationError) as caught:
        refused.full_clean()
    assert caught.value.message_dict["notify_emails"] == [
        "Notifications go to addresses at example.com only; these are not: x@example.com.evil.org."
    ]
    admin = admin_client.post(
        reverse("admin:tablecron_job_add"), form_data(name="admin", notify_emails="a@evil.org")
    )
    assert "Notifications go to addresses at example.com only" in admin.content.decode()
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_recipients_outside_the_domains_are_not_mailed(caplog: pytest.LogCaptureFixture) -> None:
    """A row written past validation keeps its addresses: they are left out when told."""
    j = job(name="j", notify=True, notify_emails="ops@example.com, a@evil.org")
    j.save()
    ended(j, "failed", db_now())
    with override_settings(TABLECRON=DOMAINS), caplog.at_level(logging.WARNING, "tablecron"):
        (notice,) = claim_notices(db_now())
    assert notice.emails == ("ops@example.com",)
    assert "not e-mailing a@evil.org about job 'j'" in caplog.text
