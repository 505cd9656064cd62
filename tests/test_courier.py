"""Delivering notifications concurrently, bounded, with back-off per target: real HTTP
receivers and a real SMTP server on 127.0.0.1 (issue 20, item 6). Each test prints what
it measured (run with -s to see it); docs/operations.md quotes the figures."""

import time
from datetime import timedelta

import pytest
from django.test import override_settings

from tablecron.courier import Courier
from tablecron.models.run import AlertState
from tablecron.notifications import Notice, deliveries
from tests.support.factories import in_future
from tests.support.processes import wait_for
from tests.support.receivers import (
    smtp_server,
    smtp_settings,
    unanswering_webhook,
    webhook_receiver,
)

# The receivers are on 127.0.0.1, which only a host allowed by name may be.
LOCAL = override_settings(TABLECRON={"WEBHOOK_ALLOWED_HOSTS": ["127.0.0.1"]})


def notice(job: str, webhook: str) -> Notice:
    return Notice(
        job_name=job,
        state=AlertState.FAILING,
        status="failed",
        at=in_future(),
        last_success_at=None,
        alert_after=timedelta(minutes=1),
        error="",
        emails=("ops@example.com",),
        webhook=webhook,
    )


def webhooks_of(*notices: Notice) -> list:  # type: ignore[type-arg]
    return [d for n in notices for d in deliveries(n) if d.channel == "webhook"]


@LOCAL
def test_a_hanging_webhook_delays_no_other_jobs_notice() -> None:
    """One thread took the notices in turn: behind a webhook that never answers (10 s
    per attempt, retried after 1, 5 and 30 s) a second job's notice came 76 s late. Now
    it comes at once, by e-mail and by its own webhook, while the first still hangs."""
    courier = Courier(delays=(0.1, 0.1))
    with (
        smtp_server() as (mailbox, port),
        override_settings(**smtp_settings(port)),
        webhook_receiver() as (fast, fast_url),
    ):
        with unanswering_webhook() as (hanging, hanging_url):
            started = time.monotonic()
            courier.send(deliveries(notice("bad", hanging_url)))
            courier.send(deliveries(notice("good", fast_url)))
            wait_for(lambda: fast.received and len(mailbox.messages) == 2, 5, "the good notice")
            took = fast.arrived[0] - started
            assert hanging.attempts == 1  # its first attempt is still waiting for an answer
            assert fast.received[0]["job"] == "good"
            assert took < 2.0
            print(
                f"\nbehind a webhook that does not answer: the next notice in {took * 1000:.0f} ms"
            )
        assert courier.flush(15)  # the hanging one failed when its server went, and gave up
    assert courier.gave_up == 1


@LOCAL
def test_a_failing_host_backs_off_with_its_own_notices_only() -> None:
    """A receiver that fails twice is retried after each delay, its later notice waiting
    behind (in order); another host's notice does not wait."""
    courier = Courier(delays=(0.5, 0.5))
    with (
        webhook_receiver(failures=2) as (failing, failing_url),
        webhook_receiver() as (
            fast,
            fast_url,
        ),
    ):
        started = time.monotonic()
        courier.send(webhooks_of(notice("a1", failing_url), notice("a2", failing_url)))
        courier.send(webhooks_of(notice("b", fast_url)))
        assert courier.flush(10)
        assert [body["job"] for body in failing.received] == ["a1", "a2"]
        assert (failing.attempts, courier.gave_up) == (4, 0)
        other, first, second = (
            fast.arrived[0] - started,
            failing.arrived[0] - started,
            failing.arrived[1] - started,
        )
        assert other < 0.5 <= 1.0 <= first <= second  # two back-offs of 0.5 s before a1
        print(
            f"\nanother host's notice in {other * 1000:.0f} ms; the failing host's two after "
            f"two back-offs, at {first * 1000:.0f} and {second * 1000:.0f} ms"
        )


@LOCAL
@pytest.mark.parametrize(("status", "attempts"), [(404, 1), (410, 1), (429, 2), (503, 2)])
def test_a_refusal_for_good_is_not_retried(status: int, attempts: int) -> None:
    """A 4xx (a revoked URL's 404) would be refused again: given up at once, so its host
    is not backed off for nothing. 408, 429 and 5xx are retried."""
    courier = Courier(delays=(0.1,))
    with webhook_receiver(failures=1, failure_status=status) as (hook, url):
        courier.send(webhooks_of(notice("j", url)))
        assert courier.flush(5)
    assert hook.attempts == attempts
    assert courier.gave_up == (1 if attempts == 1 else 0)


@LOCAL
def test_deliveries_under_way_are_bounded() -> None:
    """At most ``threads`` deliveries at once, one per host: three hosts that hang hold
    two threads, and the third waits for one of them."""
    courier = Courier(threads=2, delays=())
    with unanswering_webhook() as (three, u3):
        with unanswering_webhook() as (one, u1), unanswering_webhook() as (two, u2):
            courier.send(webhooks_of(notice("1", u1), notice("2", u2), notice("3", u3)))
            wait_for(lambda: one.attempts + two.attempts == 2, 5, "two under way")
            assert len(courier._running) == 2
            assert not courier.flush(0.2)
            assert three.attempts == 0  # waiting for a thread
        # Their servers went: their attempts failed, and a thread takes the third.
        wait_for(lambda: three.attempts == 1, 5, "the third")
    assert courier.flush(15)
    assert courier.gave_up == 3
