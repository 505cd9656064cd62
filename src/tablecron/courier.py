"""Delivering notifications: concurrently, bounded, with back-off per target.

A delivery is one message to one target (a webhook's host, the site's mail server): a
call that raises when it fails. The courier's threads, at most ``DELIVERY_THREADS``, take
deliveries as they come. A target gets one at a time, in the order they came; after a
failure it waits ``RETRY_DELAYS`` before the next attempt, its later deliveries behind
it, while other targets go on. So a webhook that answers slowly, or never, holds one
thread and delays the notices to that host only: not every job's, as one thread taking
them in turn did (a second job's notice arrived 76 s late behind one bad webhook). Up to
``DELIVERY_THREADS`` hosts that hang hold every thread until their attempts time out.

What to deliver, and how, is ``tablecron.notifications``'; this module knows no notice.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from tablecron.exceptions import WebhookRefused, WebhookRejected

logger = logging.getLogger("tablecron")

DELIVERY_THREADS = 4  # deliveries under way at once, at most: one per target
RETRY_DELAYS = (1.0, 5.0, 30.0)  # seconds before each new attempt of a failed delivery
# Failures that the same request would meet again: an internal address or a redirect
# (tablecron refuses them), a 4xx answer (the receiver does).
FINAL = (WebhookRefused, WebhookRejected)
SENT, RETRY, GAVE_UP = "sent", "retry", "gave up"


@dataclass(frozen=True)
class Delivery:
    target: str  # deliveries to one target go one at a time, and back off together
    channel: str  # "e-mail", "webhook": for the log
    about: str  # the job's name: for the log
    send: Callable[[], None]
    attempt: int = 1

    def again(self) -> Delivery:
        return replace(self, attempt=self.attempt + 1)


def attempt(delivery: Delivery, delays: Sequence[float]) -> str:
    """Try ``delivery`` once: ``SENT``, ``RETRY`` (after ``delays[attempt - 1]``) or
    ``GAVE_UP``. Failures are logged, never raised."""
    try:
        delivery.send()
    except Exception as exc:
        gives_up = delivery.attempt > len(delays) or isinstance(exc, FINAL)
        logger.warning(
            "tablecron: could not send the %s about job %r (attempt %d%s): %s",
            delivery.channel,
            delivery.about,
            delivery.attempt,
            ", giving up" if gives_up else ", will retry",
            exc,
            exc_info=gives_up,
        )
        return GAVE_UP if gives_up else RETRY
    return SENT


@dataclass
class _Target:
    waiting: deque[Delivery] = field(default_factory=deque)
    busy: bool = False
    not_before: float = 0.0  # time.monotonic(): backing off until then


class Courier:
    """Delivers from daemon threads of its own, started when first needed: a slow or
    failing receiver never holds up the scheduler's loop, nor another target."""

    def __init__(
        self, threads: int = DELIVERY_THREADS, delays: Sequence[float] = RETRY_DELAYS
    ) -> None:
        self.threads = threads
        self.delays = tuple(delays)
        self._changed = threading.Condition()
        self._targets: dict[str, _Target] = {}
        self._running: list[threading.Thread] = []
        self._unfinished = 0
        self.gave_up = 0  # deliveries given up, since this courier was made

    def send(self, deliveries: Sequence[Delivery]) -> None:
        """Deliver ``deliveries`` from the courier's threads."""
        if not deliveries:
            return
        with self._changed:
            for delivery in deliveries:
                self._targets.setdefault(delivery.target, _Target()).waiting.append(delivery)
                self._unfinished += 1
            self._running = [thread for thread in self._running if thread.is_alive()]
            for _ in range(min(self.threads, len(self._targets)) - len(self._running)):
                thread = threading.Thread(
                    target=self._run, name="tablecron-notifications", daemon=True
                )
                thread.start()
                self._running.append(thread)
            self._changed.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for what was sent to be delivered or given up."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._unfinished:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            delivery = self._take()
            try:
                outcome = attempt(delivery, self.delays)
            except BaseException:  # never let one delivery end the thread silently
                logger.exception("tablecron: could not deliver a notification")
                outcome = GAVE_UP
            self._done(delivery, outcome)

    def _take(self) -> Delivery:
        """The next delivery of a target that is free and not backing off; waits for one."""
        with self._changed:
            while True:
                now, wake = time.monotonic(), math.inf
                for target in self._targets.values():
                    if target.busy or not target.waiting:
                        continue
                    if target.not_before > now:
                        wake = min(wake, target.not_before)
                        continue
                    target.busy = True
                    return target.waiting.popleft()
                self._changed.wait(None if wake == math.inf else wake - now)

    def _done(self, delivery: Delivery, outcome: str) -> None:
        with self._changed:
            target = self._targets[delivery.target]
            target.busy = False
            if outcome == RETRY:  # first in line again, after the delay
                target.not_before = time.monotonic() + self.delays[delivery.attempt - 1]
                target.waiting.appendleft(delivery.again())
            else:
                self._unfinished -= 1
                self.gave_up += outcome == GAVE_UP
                if not target.waiting:
                    del self._targets[delivery.target]
            self._changed.notify_all()


def deliver_now(deliveries: Sequence[Delivery], delays: Sequence[float] = RETRY_DELAYS) -> bool:
    """Deliver in this thread, one after the other, each retried after ``delays``; False
    if one gave up."""
    sent = True
    for delivery in deliveries:
        while (outcome := attempt(delivery, delays)) == RETRY:
            time.sleep(delays[delivery.attempt - 1])
            delivery = delivery.again()
        sent = sent and outcome == SENT
    return sent
