"""Telling people: a job starts failing, goes silent (its dead man's switch, ``alert_after``)
or recovers; by e-mail (the job's recipients, or ``ADMINS``) and by a webhook.

The state is read from the table, not from the code that ended a run, so every way a run
ends counts (a scheduler, a queue's worker, the reaper of lost runs) and any scheduler
notices, in its housekeeping (``manage.py tablecron status``, a health probe, sends
nothing: it must answer at once whatever the receivers do). Each change is claimed with
a conditional UPDATE of the job's ``alert_state``, so exactly one process tells it,
however many look. After a notification a job keeps quiet for ``NOTIFY_QUIET_PERIOD``:
a change within it is told when it ends, if it still holds. Delivery runs off the loop's
thread, with retries.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.mail import mail_admins, send_mail
from django.db.models import DateTimeField, ExpressionWrapper, F, Q
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils import timezone

from tablecron import webhooks
from tablecron.conf import settings
from tablecron.exceptions import WebhookRefused
from tablecron.models import Job, JobRun, RunOutput, RunStatus
from tablecron.models.run import FAILING, AlertState
from tablecron.validators import email_list

logger = logging.getLogger("tablecron")

RETRY_DELAYS = (1.0, 5.0, 30.0)  # seconds before each new attempt of a failed delivery
WEBHOOK_TIMEOUT = 10.0  # seconds
ERROR_CHARS = 1000  # of the failing run's error, in the message
TAIL_LINES = 20  # of the failing run's output, in the message ...
TAIL_CHARS = 2000  # ... and at most this many characters of them
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


def claim_notices(now: datetime) -> list[Notice]:
    """The changes due to be told at ``now`` (the database's clock), each claimed for
    this process: no other process gets the same one."""
    quiet = Q(alerted_at__isnull=True) | Q(alerted_at__lte=now - settings.NOTIFY_QUIET_PERIOD)
    deadline = ExpressionWrapper(
        Coalesce("last_success_at", "created_at") + F("alert_after"), output_field=DateTimeField()
    )
    silent = Q(enabled=True, alert_after__isnull=False, deadline__lte=now)
    candidates = (
        Job.objects.annotate(deadline=deadline)
        .filter(quiet)
        .filter(
            (silent & ~Q(alert_state=AlertState.SILENT))
            | Q(notify=True, last_status__in=FAILING, alert_state=AlertState.OK)
            | (~Q(alert_state=AlertState.OK) & Q(last_status=RunStatus.SUCCEEDED))
        )
    )
    notices = []
    for row in candidates.values(*_COLUMNS):
        state = _state(row, now)
        if state != row["alert_state"] and _claim(row, state, now):
            notices.append(_notice(row, state, now))
    return notices


def _state(row: dict[str, Any], now: datetime) -> str:
    """What the job's notifications should say now; its last word when there is no news
    (a run in progress, a paused job)."""
    if not row["enabled"]:
        return str(row["alert_state"])
    if (
        row["alert_after"]
        and (row["last_success_at"] or row["created_at"]) + row["alert_after"] <= now
    ):
        return AlertState.SILENT
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


def _notice(row: dict[str, Any], state: str, now: datetime) -> Notice:
    about: dict[str, Any] = {}
    if state == AlertState.FAILING:
        failed = JobRun.objects.filter(job_id=row["id"], status__in=FAILING)
        columns = ("id", "error", "scheduled_for", "worker")
        run = failed.order_by("-scheduled_for", "-attempt").only(*columns).first()
        if run is not None:
            about = {
                "error": run.error[-ERROR_CHARS:],
                "run_id": run.pk,
                "scheduled_for": run.scheduled_for,
                "host": run.worker_host,
                "output": tail(RunOutput.objects.read(run.pk).text),
                "link": admin_link(run.pk),
            }
    return Notice(
        job_name=row["name"],
        state=state,
        status=row["last_status"],
        at=now,
        last_success_at=row["last_success_at"],
        alert_after=row["alert_after"],
        error=about.pop("error", ""),
        emails=tuple(email_list(row["notify_emails"])),
        webhook=row["notify_webhook"],
        **about,
    )


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


def deliver(notice: Notice, delays: Sequence[float] = RETRY_DELAYS) -> bool:
    """Send ``notice`` by each of its channels, retrying each after ``delays``; False if
    one gave up. Failures are logged, never raised."""
    channels: list[tuple[str, Callable[[Notice], None]]] = [("e-mail", send_email)]
    if notice.webhook:
        channels.append(("webhook", post_webhook))
    sent = [_with_retries(name, send, notice, delays) for name, send in channels]  # each one
    return all(sent)


def _with_retries(
    channel: str, send: Callable[[Notice], None], notice: Notice, delays: Sequence[float]
) -> bool:
    for attempt, delay in enumerate([0.0, *delays], 1):
        time.sleep(delay)
        try:
            send(notice)
        except Exception as exc:
            # An internal address or a redirect is refused again on each attempt.
            gives_up = attempt > len(delays) or isinstance(exc, WebhookRefused)
            logger.warning(
                "tablecron: could not send the %s about job %r (attempt %d%s): %s",
                channel,
                notice.job_name,
                attempt,
                ", giving up" if gives_up else ", will retry",
                exc,
                exc_info=gives_up,
            )
            if gives_up:
                return False
        else:
            return True
    return False


class Courier:
    """Delivers notices from a daemon thread of its own: a slow or failing receiver
    never holds up the scheduler's loop."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Notice] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def send(self, notices: Sequence[Notice]) -> None:
        """Deliver ``notices`` from the courier's thread, started when first needed."""
        if not notices:
            return
        for notice in notices:
            self._queue.put(notice)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="tablecron-notifications", daemon=True
                )
                self._thread.start()

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for what was sent to be delivered."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            notice = self._queue.get()
            try:
                deliver(notice)
            except Exception:  # never let one notice end the thread
                logger.exception("tablecron: could not deliver a notification")
            finally:
                self._queue.task_done()


courier = Courier()  # this process's
