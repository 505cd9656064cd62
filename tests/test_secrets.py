"""What people who may not change jobs do not see, and what the audit trail never stores:
arguments under keys that look secret, and a webhook's credentials (issue 20, item 8)."""

import json

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import override_settings

from tablecron import audit
from tablecron.secrets import MASK, looks_secret, mask_arguments, mask_url
from tests.support.audit import trail
from tests.support.factories import T, job

SECRET_KWARGS = {
    "host": "db.internal",
    "password": "hunter2",
    "options": {"API-Key": "k-123", "retries": 3, "tokens": ["t1", "t2"]},
    "servers": [{"name": "a", "db_password": "pw-a"}],
}
MASKED_KWARGS = {
    "host": "db.internal",
    "password": MASK,
    "options": {"API-Key": MASK, "retries": 3, "tokens": MASK},
    "servers": [{"name": "a", "db_password": MASK}],
}
WEBHOOK = "https://hooks.slack.com/services/T000/B000/XYZSECRET"


@pytest.mark.parametrize(
    "key",
    ["password", "DB_PASSWORD", "passwd", "client_secret", "slack-token", "api_key", "apiKey",
     "Authorization", "aws_access_key", "private.key", "credentials", "session_cookie"],
)  # fmt: skip
def test_keys_that_look_secret(key: str) -> None:
    assert looks_secret(key)


@pytest.mark.parametrize("key", ["host", "days", "user", "key_field", "author", "count"])
def test_keys_that_do_not(key: str) -> None:
    assert not looks_secret(key)


def test_the_setting_adds_words() -> None:
    assert not looks_secret("dsn")
    with override_settings(TABLECRON={"SENSITIVE_KEYS": ["dsn", "pin_code"]}):
        assert looks_secret("sentry_dsn")
        assert looks_secret("PinCode")


def test_arguments_are_masked_at_any_depth() -> None:
    assert mask_arguments(SECRET_KWARGS) == MASKED_KWARGS
    assert mask_arguments(["plain", {"token": "x"}]) == ["plain", {"token": MASK}]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (WEBHOOK, f"https://hooks.slack.com/{MASK}"),
        ("https://user:pw@example.com/", f"https://example.com/{MASK}"),
        ("https://example.com/hook?token=abc", f"https://example.com/{MASK}"),
        ("http://example.com:8080/x", f"http://example.com:8080/{MASK}"),
        ("https://example.com", "https://example.com"),
        ("https://example.com/", "https://example.com/"),
        ("", ""),
    ],
)
def test_a_webhook_shows_its_scheme_host_and_port_only(url: str, shown: str) -> None:
    assert mask_url(url) == shown


@pytest.mark.django_db
def test_the_audit_trail_never_stores_a_secret() -> None:
    """A rotated password and a deleted job's webhook were readable in the trail for ever."""
    saved = job(task=T + "async_noop", args=[], kwargs=SECRET_KWARGS, notify_webhook=WEBHOOK)
    saved.save()
    saved.kwargs = {**SECRET_KWARGS, "password": "rotated"}
    saved.save()
    saved.run_now(kwargs={"password": "once"})
    saved.delete()
    stored = " ".join(LogEntry.objects.values_list("change_message", flat=True))
    for secret in ("hunter2", "rotated", "once", "k-123", "pw-a", "XYZSECRET", "t1"):
        assert secret not in stored
    added, changed, run_now, _deleted = trail()
    assert added["changes"]["kwargs"] == [None, MASKED_KWARGS]
    assert added["changes"]["notify_webhook"] == [None, f"https://hooks.slack.com/{MASK}"]
    assert changed["changes"]["kwargs"] == [MASKED_KWARGS, MASKED_KWARGS]  # it changed
    assert run_now["changes"]["kwargs"] == [MASKED_KWARGS, {"password": MASK}]


@pytest.mark.django_db
def test_the_migration_masks_what_the_trail_stored_before() -> None:
    """Entries written before this release held the values: migration 0014 masks them,
    and leaves others' entries and the rest of ours as they were."""
    migration = __import__(
        "tablecron.migrations.0014_mask_secrets_in_audit_trail", fromlist=["mask_trail"]
    )
    user_id = audit.code_user_id()
    jobs = ContentType.objects.get_for_model(apps.get_model("tablecron", "Job"))
    old = [{"changed": {"fields": ["kwargs"]}},
           {"tablecron": {"via": "code", "changes": {
               "kwargs": [{"password": "old-pw"}, {"password": "new-pw"}],
               "notify_webhook": ["", WEBHOOK], "description": ["a", "b"]}}}]  # fmt: skip
    ours = LogEntry.objects.create(
        user_id=user_id, content_type=jobs, object_id="1", object_repr="j",
        action_flag=CHANGE, change_message=json.dumps(old),
    )  # fmt: skip
    others = LogEntry.objects.create(
        user_id=user_id, content_type=ContentType.objects.get_for_model(LogEntry),
        object_id="1", object_repr="x", action_flag=CHANGE, change_message=json.dumps(old),
    )  # fmt: skip
    migration.mask_trail(apps, None)
    ours.refresh_from_db()
    others.refresh_from_db()
    changes = json.loads(ours.change_message)[1]["tablecron"]["changes"]
    assert changes == {
        "kwargs": [{"password": MASK}, {"password": MASK}],
        "notify_webhook": ["", f"https://hooks.slack.com/{MASK}"],
        "description": ["a", "b"],
    }
    assert json.loads(ours.change_message)[0] == old[0]
    assert json.loads(others.change_message) == old
