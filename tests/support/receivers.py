"""Real receivers on 127.0.0.1 for what tablecron sends out: an SMTP server (aiosmtpd)
and an HTTP server that records the JSON POSTed to it (a webhook's receiver)."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.processes import free_port


@dataclass
class Mailbox:
    """What the SMTP server received: each message with its envelope's recipients."""

    messages: list[tuple[list[str], Message]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(message["Subject"]) for _, message in self.messages]


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """An SMTP server on 127.0.0.1: its mailbox and port."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()


@dataclass
class Hook:
    """What the HTTP server received; it answers ``failure_status`` (500) to the first
    ``failures`` requests, or redirects each one to ``redirect`` with
    ``redirect_status``. ``attempts`` counts requests of any method (a 302 is followed
    with a GET); ``arrived`` holds when each body of ``received`` came
    (``time.monotonic()``)."""

    failures: int = 0
    redirect: str = ""
    redirect_status: int = 302
    failure_status: int = 500
    attempts: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)  # each request's Host header
    lock: threading.Lock = field(default_factory=threading.Lock)


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@contextmanager
def webhook_receiver(
    failures: int = 0,
    host: str = "127.0.0.1",
    redirect: str = "",
    redirect_status: int = 302,
    failure_status: int = 500,
) -> Iterator[tuple[Hook, str]]:
    """An HTTP server on ``host`` (127.0.0.1 or ::1) that records JSON bodies: its
    record and URL."""
    hook = Hook(failures, redirect, redirect_status, failure_status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            with hook.lock:
                hook.attempts += 1
                hook.hosts.append(self.headers["Host"])
                failing = hook.attempts <= hook.failures
                if not failing and not hook.redirect and body is not None:
                    hook.received.append(body)
                    hook.arrived.append(time.monotonic())
            if hook.redirect:
                self.send_response(hook.redirect_status)
                self.send_header("Location", hook.redirect)
            else:
                self.send_response(hook.failure_status if failing else 200)
            self.end_headers()

        do_GET = do_POST  # what a followed redirect may turn a POST into

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
    server = server_class((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    netloc = f"[{host}]" if ":" in host else host
    try:
        yield hook, f"http://{netloc}:{server.server_port}/hook"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def unanswering_webhook() -> Iterator[tuple[Hook, str]]:
    """An HTTP server on 127.0.0.1 that reads each request and never answers it (until
    it stops): its record (``attempts`` counts the requests) and URL."""
    hook = Hook()
    stopping = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            with hook.lock:
                hook.attempts += 1
            stopping.wait()

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook, f"http://127.0.0.1:{server.server_port}/hook"
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()


def smtp_settings(port: int) -> dict[str, Any]:
    """Settings that send this process's e-mail with Django's SMTP backend to ``port``
    (the test runner's own replace it with an in-memory outbox)."""
    import django

    smtp = "django.core.mail.backends.smtp.EmailBackend"
    if django.VERSION >= (6, 1):
        return {
            "MAILERS": {
                "default": {"BACKEND": smtp, "OPTIONS": {"host": "127.0.0.1", "port": port}}
            }
        }
    return {"EMAIL_BACKEND": smtp, "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": port}
