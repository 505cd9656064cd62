"""Where webhooks may POST (issue 20, item 2): public addresses, or hosts the site allows.

Anyone who may change a job could point its webhook at the scheduler's own network (127.0.0.1,
the cloud's metadata service, a private address) and have the scheduler POST there; a
redirect from an allowed host to [::1] was followed. Each test sends to a real server on
127.0.0.1 or ::1. The field errors are in the bad inputs of the model and the API
(tests/support/bad_inputs.py) and in admin/test_forms.py."""

import ipaddress
import logging
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from tablecron import webhooks
from tablecron.exceptions import WebhookRefused
from tablecron.notifications import Notice, deliver
from tests.support.factories import in_future, job
from tests.support.receivers import webhook_receiver


def allowing(*hosts: str) -> Any:
    return override_settings(TABLECRON={"WEBHOOK_ALLOWED_HOSTS": list(hosts)})


def notice(url: str) -> Notice:
    return Notice("backup", "failing", "failed", in_future(), None, None, "", ("a@b.org",), url)


def send(url: str) -> bool:
    """Deliver a notice to ``url`` (the e-mail goes to the test outbox)."""
    return deliver(notice(url), delays=[0.01])


@pytest.mark.parametrize("spelling", ["127.0.0.1", "localhost", "2130706433", "0x7f.1"])
def test_a_receiver_on_127_0_0_1_gets_nothing_unless_its_host_is_allowed(
    spelling: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tablecron")
    with webhook_receiver() as (hook, url):
        aimed = url.replace("127.0.0.1", spelling)
        assert send(aimed) is False
        assert hook.attempts == 0
        refusals = [r.getMessage() for r in caplog.records if "could not send" in r.getMessage()]
        assert len(refusals) == 1  # refused at once, not retried
        assert "an internal address: not sent" in refusals[0]
        with allowing(spelling):
            assert send(aimed) is True
        assert len(hook.received) == 1
        assert hook.hosts == [aimed.split("/")[2]]  # the name is kept for the Host header


def test_a_receiver_on_ipv6_loopback_gets_nothing_unless_allowed() -> None:
    with webhook_receiver(host="::1") as (hook, url):
        assert send(url) is False
        mapped = url.replace("[::1]", "[::ffff:127.0.0.1]")  # IPv4 loopback, written as IPv6
        assert send(mapped) is False
        assert hook.attempts == 0
        with allowing("::1"):
            assert send(url) is True
        assert len(hook.received) == 1


@pytest.mark.parametrize(("status", "reason"), [(302, "Found"), (307, "Temporary Redirect")])
def test_a_redirect_is_not_followed(
    status: int, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tablecron")
    with (
        webhook_receiver(host="::1") as (inside, inside_url),
        webhook_receiver(redirect=inside_url, redirect_status=status) as (allowed, allowed_url),
        allowing("127.0.0.1"),
    ):
        assert send(allowed_url) is False
        assert allowed.attempts == 1  # refused, not retried
        assert inside.attempts == 0  # neither POSTed to nor fetched
    (message,) = [r.getMessage() for r in caplog.records if "could not send" in r.getMessage()]
    assert f"answered {status} {reason}: tablecron follows no redirect" in message


def test_an_error_status_is_retried() -> None:
    with webhook_receiver(failures=1) as (hook, url), allowing("127.0.0.1"):
        assert send(url) is True
    assert (hook.attempts, len(hook.received)) == (2, 1)


# -- TLS: the certificate is checked against the name, on the address that was checked ---


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA (ca.pem) and a certificate it signed for localhost (leaf.pem, leaf.key)."""
    folder = tmp_path_factory.mktemp("tls")
    (folder / "leaf.ext").write_text(
        "subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
    )
    ca = ["-subj", "/CN=tablecron test CA", "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"]  # fmt: skip
    for command in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
         "ca.pem", "-days", "2", *ca],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
         "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", "leaf.ext"],
    ):  # fmt: skip
        subprocess.run(["openssl", *command], cwd=folder, check=True, capture_output=True)
    return folder


@contextmanager
def tls_receiver(certificates: Path) -> Iterator[tuple[list[str], int]]:
    """An HTTPS server on 127.0.0.1 with the certificate for localhost: the server names
    (SNI) its requests came with, and its port."""
    names: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates / "leaf.pem", certificates / "leaf.key")

    def record_name(sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        names.append(name or "")

    context.sni_callback = record_name  # type: ignore[assignment]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield names, server.server_port
    finally:
        server.shutdown()
        server.server_close()


def test_https_verifies_the_certificate_for_the_name(
    certificates: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tablecron")
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "ca.pem"))  # trust the test CA
    with tls_receiver(certificates) as (names, port), allowing("localhost", "127.0.0.1"):
        assert send(f"https://localhost:{port}/hook") is True
        assert names == ["localhost"]
        # The certificate is for localhost, not for 127.0.0.1: refused.
        assert send(f"https://127.0.0.1:{port}/hook") is False
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


# -- the address rules ------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
     "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::", "fe80::1",
     "fc00::1", "fec0::1", "ff02::1", "ff0e::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
     "64:ff9b::7f00:1", "2002:7f00:1::", "::7f00:1"],
)  # fmt: skip
def test_internal_addresses(address: str) -> None:
    assert not webhooks.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses(address: str) -> None:
    assert webhooks.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/", "http://localhost:8000/x", "http://LocalHost:80/", "http://a.localhost/",
     "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://[::]/",
     "http://169.254.169.254/latest/meta-data/", "https://10.0.0.5/hook", "http://[fe80::1]/",
     "https://192.168.0.10:8443/"],
)  # fmt: skip
@pytest.mark.django_db
def test_the_field_refuses_internal_hosts(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        job(notify_webhook=url).full_clean()
    (message,) = caught.value.message_dict["notify_webhook"]
    assert "is an internal address (loopback, private, link-local" in message
    with allowing(str(urlsplit(url).hostname)):
        job(notify_webhook=url).full_clean()


@pytest.mark.parametrize(
    "url",
    ["https://hooks.slack.com/services/T0/B0/x", "https://8.8.8.8/hook", "http://[2606:4700::1]/",
     "https://localhost.example.com/"],
)  # fmt: skip
@pytest.mark.django_db
def test_the_field_accepts_public_hosts(url: str) -> None:
    job(notify_webhook=url).full_clean()


def test_only_what_the_resolver_reads_counts_as_an_address() -> None:
    assert webhooks.literal_address("0x7f.1") == ipaddress.ip_address("127.0.0.1")
    assert webhooks.literal_address("2130706433") == ipaddress.ip_address("127.0.0.1")
    assert webhooks.literal_address("hooks.example.com") is None
    with pytest.raises(WebhookRefused, match="not an http"):
        webhooks.post("ftp://example.com/x", b"{}", {}, 1.0)
