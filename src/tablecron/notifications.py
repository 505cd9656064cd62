"""Telling people: a job starts failing, goes silent (its dead man's switch, ``alert_after``)
or recovers; by e-mail (the job's recipients, or ``ADMINS``) and by a webhook.

The state is read from the table, not from the code that ended a run, so every way a run
ends counts (a scheduler, a queue's worker, the reaper of lost runs) and any scheduler
notices, in its housekeeping (``manage.py tablecron status``, a health probe, sends
nothing: it must answer at once whatever the receivers do). Each change is claimed with
a conditional UPDATE of the job's ``alert_state``, so exactly one process tells it,
however many look. After a notification a job keeps quiet for ``NOTIFY_QUIET_PERIOD``:
a change within it is told when it ends, if it still holds. Delivery runs off the loop's
thread, concurrently, retried with back-off per target (``tablecron.courier``).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from django.core.mail import mail_admins, send_mail
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils import timezone

from tablecron import webhooks
from tablecron.conf import settings
from tablecron.courier import RETRY_DELAYS, Courier, Delivery, deliver_now
from tablecron.models import Job, JobRun, RunOutput, RunStatus
from tablecron.models.run import FAILING, AlertState
from tablecron.validators import allowed_email, email_list

logger = logging.getLogger("tablecron")

WEBHOOK_TIMEOUT = 10.0  # seconds
ERROR_CHARS = 1000  # of the failing run's error, in the message
TAIL_LINES = 20  # of the failing run's output, in the message ...
TAIL_CHARS = 2000  # ... and at most this many characters of them
# How far back a process's first look reads runs that ended failing.
LOOK_BACK = timedelta(hours=1)
EVENTS = {AlertState.FAILING: "failing", AlertState.SILENT: "silent", AlertState.OK: "recovered"}
_COLUMNS = ("id", "name", "enabled", "notify", "notify_emails", "notify_webhook",
            "alert_after", "alert_state", "alerted_at", "last_status", "last_success_at",
            "created_at")  # fmt: skip


@dataclass(frozen=True)
class Notice:
    """One change of one job, to be told."""

    job_name: str
    state: str  # the job's new AlertState
    status: str  # its newest run's status
    at: datetime
    last_success_at: datetime | None
    alert_after: timedelta | None
    error: str
    emails: tuple[str, ...]
    webhook: str
    # The failing run (a "failing" notice only): which, when it was due, where it ran,
    # the end of its output, and its page in the admin (with SITE_URL).
    run_id: int | None = None
    scheduled_for: datetime | None = None
    host: str = ""
    output: str = ""
    link: str = ""

    @property
    def event(self) -> str:
        return EVENTS[AlertState(self.state)]

    @property
    def text(self) -> str:
        """One line, the e-mail's subject and the webhook's ``text``."""
        name = self.job_name
        if self.state == AlertState.FAILING:
            return f"tablecron: job {name!r} is failing: its last run {self.status}."
        if self.state == AlertState.SILENT:
            last = (
                f"{self.last_success_at:%Y-%m-%d %H:%M:%S %Z}" if self.last_success_at else "never"
            )
            return (
                f"tablecron: job {name!r} has not succeeded for {self.alert_after} "
                f"(last success: {last})."
            )
        return f"tablecron: job {name!r} recovered: its last run succeeded."

    @property
    def body(self) -> str:
        """The e-mail's text: the line, then the failing run, its error and output."""
        parts = [self.text]
        if self.run_id is not None:
            run = f"Run {self.run_id}"
            if self.scheduled_for is not None:
                local = timezone.localtime(self.scheduled_for)
                run += f", scheduled for {local:%Y-%m-%d %H:%M:%S %Z}"
            parts.append(run + (f", on {self.host}." if self.host else "."))
        if self.link:
            parts.append(f"See it in the admin: {self.link}")
        if self.error:
            parts.append(f"The run's error:\n\n{self.error.rstrip()}")
        if self.output:
            parts.append(f"The end of its output:\n\n{self.output}")
        return "\n\n".join(parts)

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body: Slack's incoming webhooks show ``text``."""
        return {
            "text": self.text,
            "job": self.job_name,
            "event": self.event,
            "status": self.status,
            "at": self.at.isoformat(),
            "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
            "error": self.error,
            "run_id": self.run_id,
            "run_url": self.link or None,
            "scheduled_for": self.scheduled_for.isoformat() if self.scheduled_for else None,
            "host": self.host,
            "output": self.output,
        }


class Failure(NamedTuple):
    """A run that ended failing, found among the runs ended since the last look."""

    run_id: int
    job_id: int
    scheduled_for: datetime


def claim_notices(now: datetime, since: datetime | None = None) -> list[Notice]:
    """The changes due to be told at ``now`` (the database's clock), each claimed for
    this process: no other process gets the same one. ``since``: when this process last
    looked (None: never).

    The look reads only what may have changed, each by an index, so that its cost does not
    grow with the number of jobs: the runs that ended failing since the last look (a
    failure is told even when a success followed it before the look), the jobs whose
    notifications are not "ok", those whose quiet period ended since, and those with a
    dead man's switch."""
    start = (since or now - LOOK_BACK) - timedelta(seconds=settings.LOST_AFTER)  # late commits
    failures = _failures(start)
    notices = []
    for row in _candidates(now, start, failures):
        failure = failures.get(row["id"])
        state = _state(row, now, failure)
        if state != row["alert_state"] and _claim(row, state, now):
            notices.append(_notice(row, state, now, failure))
    return notices


def _failures(start: datetime) -> dict[int, Failure]:
    """Of the runs that ended failing after ``start``, each job's newest."""
    ended = JobRun.objects.filter(status__in=FAILING, finished_at__gt=start, job__isnull=False)
    found: dict[int, Failure] = {}
    rows = ended.order_by().values_list("id", "job_id", "scheduled_for")
    for failure in map(Failure._make, rows):
        known = found.get(failure.job_id)
        if known is None or known.scheduled_for < failure.scheduled_for:
            found[failure.job_id] = failure
    return found


def _candidates(
    now: datetime, start: datetime, failures: dict[int, Failure]
) -> list[dict[str, Any]]:
    """The jobs whose notifications may change at ``now``; each read once."""
    quiet_from = now - settings.NOTIFY_QUIET_PERIOD
    deadline = ExpressionWrapper(
        Coalesce("last_success_at", "created_at") + F("alert_after"), output_field=DateTimeField()
    )
    # One query, a UNION of four, each read by an index of its own (MariaDB reads a
    # whole table for the same conditions joined by OR). "alert_after > 0" rather than
    # "IS NOT NULL" (the same rows: a CheckConstraint): a range, which every database
    # reads by the index.
    switched = Job.objects.filter(alert_after__gt=timedelta(0), enabled=True)
    parts = [
        Job.objects.filter(pk__in=list(failures)),
        # alerted_at: set with every state told, and what PostgreSQL's partial index holds.
        Job.objects.filter(
            alert_state__in=(AlertState.FAILING, AlertState.SILENT), alerted_at__isnull=False
        ),
        Job.objects.filter(  # told "ok" lately: what changed within its quiet period
            alert_state=AlertState.OK,
            alerted_at__gt=start - settings.NOTIFY_QUIET_PERIOD,
            alerted_at__lte=quiet_from,
        ),
        switched.annotate(deadline=deadline)
        .filter(deadline__lte=now)
        .exclude(alert_state=AlertState.SILENT),
    ]
    quiet = Q(alerted_at__isnull=True) | Q(alerted_at__lte=quiet_from)
    first, *others = (part.filter(quiet).order_by().values(*_COLUMNS) for part in parts)
    return list(first.union(*others).order_by())


def _state(row: dict[str, Any], now: datetime, failure: Failure | None) -> str:
    """What the job's notifications should say now; its last word when there is no news
    (a run in progress, a paused job). A failure not told yet is told, whatever ended
    after it: one of a run due after the last notice (a run due before it, that was
    running then and failed since, is news only if it is the job's newest)."""
    if not row["enabled"]:
        return str(row["alert_state"])
    if (
        row["alert_after"]
        and (row["last_success_at"] or row["created_at"]) + row["alert_after"] <= now
    ):
        return AlertState.SILENT
    told_at = row["alerted_at"]
    if (
        row["notify"]
        and row["alert_state"] == AlertState.OK
        and failure is not None
        and (told_at is None or told_at <= failure.scheduled_for)
    ):
        return AlertState.FAILING
    if row["last_status"] == RunStatus.SUCCEEDED:
        return AlertState.OK
    if row["notify"] and row["last_status"] in FAILING:
        return AlertState.FAILING
    return str(row["alert_state"])


def _claim(row: dict[str, Any], state: str, now: datetime) -> bool:
    """Move the job's alert state on, if no one else did since it was read."""
    return bool(
        Job.objects.filter(
            pk=row["id"], alert_state=row["alert_state"], alerted_at=row["alerted_at"]
        ).update(alert_state=state, alerted_at=now)
    )


def _notice(row: dict[str, Any], state: str, now: datetime, failure: Failure | None) -> Notice:
    """The notice of the change to ``state``, with the run it is about: the failure (the
    one found, else the job's newest), or the success it recovered with."""
    run = None
    if state == AlertState.FAILING:
        failed = JobRun.objects.filter(job_id=row["id"], status__in=FAILING)
        run = _newest(failed.filter(pk=failure.run_id) if failure else failed)
    elif state == AlertState.OK:
        run = _newest(JobRun.objects.filter(job_id=row["id"], status=RunStatus.SUCCEEDED))
    about: dict[str, Any] = {}
    if run is not None:
        about = {"run_id": run.pk, "scheduled_for": run.scheduled_for, "host": run.worker_host,
                 "link": admin_link(run.pk)}  # fmt: skip
    if run is not None and state == AlertState.FAILING:
        about |= {"error": run.error[-ERROR_CHARS:], "status": run.status,
                  "output": tail(RunOutput.objects.read(run.pk).text)}  # fmt: skip
    return Notice(
        job_name=row["name"],
        state=state,
        status=about.pop("status", row["last_status"]),
        at=now,
        last_success_at=row["last_success_at"],
        alert_after=row["alert_after"],
        error=about.pop("error", ""),
        emails=tuple(_recipients(row)),
        webhook=row["notify_webhook"],
        **about,
    )


def _newest(runs: QuerySet[JobRun]) -> JobRun | None:
    columns = ("id", "error", "scheduled_for", "worker", "status")
    return runs.order_by("-scheduled_for", "-attempt").only(*columns).first()


def _recipients(row: dict[str, Any]) -> list[str]:
    """The job's addresses in the domains notifications may go to; one written past
    validation (``QuerySet.update()``, SQL) to another domain is left out, and said."""
    addresses = email_list(row["notify_emails"])
    allowed = [address for address in addresses if allowed_email(address)]
    if len(allowed) < len(addresses):
        logger.warning(
            "tablecron: not e-mailing %s about job %r: outside NOTIFY_EMAIL_DOMAINS",
            ", ".join(sorted(set(addresses) - set(allowed))),
            row["name"],
        )
    return allowed


def tail(output: str) -> str:
    """The last ``TAIL_LINES`` lines of ``output``, at most ``TAIL_CHARS`` characters of them
    (a line cut short starts with "…")."""
    end = "\n".join(output.splitlines()[-TAIL_LINES:])
    return end if len(end) <= TAIL_CHARS else "…" + end[-(TAIL_CHARS - 1) :]


def admin_link(run_id: int) -> str:
    """The run's page in the admin at ``SITE_URL``; "" without the setting or the admin.

    Made in whichever thread tells it, where Django's script prefix may or may not be
    FORCE_SCRIPT_NAME: the path is taken without it, and SITE_URL holds the site's own.
    """
    if not settings.SITE_URL:
        return ""
    try:
        path = reverse("admin:tablecron_jobrun_change", args=[run_id])
    except NoReverseMatch:
        return ""
    return f"{settings.SITE_URL.rstrip('/')}/{path.removeprefix(get_script_prefix())}"


# -- delivery --------------------------------------------------------------------------


def send_email(notice: Notice) -> None:
    """To the job's recipients, or to ``ADMINS`` if it names none."""
    if notice.emails:
        send_mail(notice.text, notice.body, None, list(notice.emails))
    else:
        mail_admins(notice.text, notice.body)


def post_webhook(notice: Notice) -> None:
    """POST the notice as JSON to a public address (``tablecron.webhooks``); an answer
    other than 2xx raises."""
    webhooks.post(
        notice.webhook,
        json.dumps(notice.payload()).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "tablecron"},
        timeout=WEBHOOK_TIMEOUT,
    )


def deliveries(notice: Notice) -> list[Delivery]:
    """What telling ``notice`` takes: an e-mail (the site's mail server is one target),
    and a POST to its webhook (each host a target of its own: a host that hangs or
    fails delays its own notices, one at a time)."""
    found = [Delivery("e-mail", "e-mail", notice.job_name, functools.partial(send_email, notice))]
    if notice.webhook:
        send = functools.partial(post_webhook, notice)
        found.append(Delivery(_host_of(notice.webhook), "webhook", notice.job_name, send))
    return found


def _host_of(url: str) -> str:
    try:
        parts = urlsplit(url)
        return f"webhook {parts.scheme}://{(parts.hostname or '').lower()}:{parts.port}"
    except ValueError:
        return f"webhook {url}"


def deliver(notice: Notice, delays: Sequence[float] = RETRY_DELAYS) -> bool:
    """Send ``notice`` by each of its channels, in this thread, retrying each after
    ``delays``; False if one gave up. Failures are logged, never raised."""
    return deliver_now(deliveries(notice), delays)


def send(notices: Sequence[Notice]) -> None:
    """Tell ``notices`` from this process's courier's threads (``tablecron.courier``)."""
    courier.send([delivery for notice in notices for delivery in deliveries(notice)])


courier = Courier()  # this process's
