"""The audit trail: who changed which job, when, and what, field by field.

Every write to a job's editable fields, from any ORM path, and every "run now" is a row of
Django's own admin log (``django.contrib.admin.models.LogEntry``), so the admin's history
of a job shows it. Who acted is set around the write by the door it came through: the
admin and the API call ``acting(request.user, "admin"|"api")``; a write outside them is
recorded as done by code. ``LogEntry`` needs a user, so code's writes are logged under an
inactive user named ``CODE_USER`` that this module creates on first use.

The scheduler writes its own columns (``next_run_at``, ``last_run_at``, ``last_status``) in
SQL of its own, so its writes never reach here: the trail holds people's and code's
changes only.

Values that look secret (``tablecron.secrets``: arguments under keys such as ``password``
or ``token``, a webhook's URL past its host) are masked before they are stored: the trail
is kept for ever, and a rotated password must not stay readable in it. Migration 0014
masks the entries written before.

The change message is the JSON list Django's admin writes (``[{"changed": {"fields":
[...]}}]``, so Django reads it as usual) with one more item, ``{"tablecron": {"via":
"admin", "action": "pause", "changes": {"enabled": [true, false]}}}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import DatabaseError, router, transaction
from django.db.models.signals import post_delete
from django.utils.duration import duration_string
from django.utils.translation import override

from tablecron.conf import settings
from tablecron.models import Job
from tablecron.models.job_audit import JobWrite
from tablecron.secrets import mask_field
from tablecron.signals import jobs_written

logger = logging.getLogger(__name__)

CODE_USER = "tablecron"
VIA = ("admin", "api", "code")
RUN_ACTIONS = ("run_now", "rerun", "cancel")  # writes of one run of a job (JobWrite.run)


@dataclass(frozen=True)
class Actor:
    user: Any  # an authenticated user, or None: code
    via: str  # one of VIA
    action: str = ""  # the admin's or API's action: "pause", "run_now", "duplicate", …


CODE = Actor(None, "code")
_actor: ContextVar[Actor | None] = ContextVar("tablecron_actor", default=None)


def current_actor() -> Actor:
    return _actor.get() or CODE


@contextmanager
def acting(user: Any, via: str, action: str = "") -> Iterator[None]:
    """Writes to jobs within are ``user``'s, through ``via``."""
    known = user if getattr(user, "is_authenticated", False) else None
    token = _actor.set(Actor(known, via, action))
    try:
        yield
    finally:
        _actor.reset(token)


@contextmanager
def action(name: str) -> Iterator[None]:
    """Writes within are the named action (of whoever is acting)."""
    token = _actor.set(replace(current_actor(), action=name))
    try:
        yield
    finally:
        _actor.reset(token)


def install() -> None:
    """Listen for job writes, if Django's admin (and so ``LogEntry``) is installed."""
    if apps.is_installed("django.contrib.admin"):
        jobs_written.connect(record_writes, sender=Job, dispatch_uid="tablecron.audit")
        post_delete.connect(record_deletion, sender=Job, dispatch_uid="tablecron.audit")


def record_deletion(sender: type[Job], instance: Job, **kwargs: Any) -> None:
    record_writes(sender, [JobWrite(instance.pk, instance.name, "deleted", {})])


def record_writes(sender: type[Job], writes: list[JobWrite], **kwargs: Any) -> None:
    """One LogEntry per write, in the database Django's routers choose for LogEntry."""
    if not settings.AUDIT_TRAIL:
        return
    from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
    from django.contrib.contenttypes.models import ContentType

    actor = current_actor()
    user_id = actor.user.pk if actor.user is not None else code_user_id()
    if user_id is None:
        return
    flags = {"added": ADDITION, "changed": CHANGE, "deleted": DELETION}
    content_type = ContentType.objects.get_for_model(Job)
    LogEntry.objects.bulk_create(
        LogEntry(
            user_id=user_id,
            content_type=content_type,
            object_id=str(write.pk) if write.pk is not None else None,
            object_repr=write.name[:200],
            action_flag=flags.get(write.kind, CHANGE),  # a run's: run_now, rerun, cancel
            change_message=change_message(write, actor),
        )
        for write in writes
    )


def change_message(write: JobWrite, actor: Actor) -> str:
    """Django's JSON change message, plus tablecron's item with the values."""
    ours: dict[str, Any] = {"via": actor.via}
    if actor.action or write.kind in RUN_ACTIONS:
        ours["action"] = actor.action or write.kind
    if write.changes:  # secrets masked: the trail is kept for ever, and read by viewers
        ours["changes"] = {
            name: [_plain(mask_field(name, old)), _plain(mask_field(name, new))]
            for name, (old, new) in write.changes.items()
        }
    if write.run is not None:
        ours["run"] = write.run
    message: list[dict[str, Any]] = []
    if write.kind == "added":
        message.append({"added": {}})
    elif write.kind == "changed":
        with override(None):  # as Django stores them: untranslated, translated when shown
            names = [verbose_name(name) for name in write.changes]
        message.append({"changed": {"fields": names}})
    message.append({"tablecron": ours})
    return json.dumps(message, ensure_ascii=False)


def verbose_name(name: str) -> str:
    field = Job._meta.get_field(name)
    return str(getattr(field, "verbose_name", name))


def _plain(value: Any) -> Any:
    """A value as JSON holds it, written as the admin's form shows it."""
    if isinstance(value, timedelta):
        return duration_string(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def code_user_id() -> Any:
    """The id of the inactive user that code's writes are logged under, created if missing;
    None (and a warning) if the project's user model cannot make one."""
    user_model = get_user_model()
    manager = user_model._default_manager
    lookup = {user_model.USERNAME_FIELD: CODE_USER}
    found = manager.filter(**lookup).values_list("pk", flat=True).first()
    if found is not None:
        return found
    user = user_model(**lookup)
    user.set_unusable_password()
    if hasattr(user, "is_active"):
        user.is_active = False
    try:
        with transaction.atomic(using=router.db_for_write(user_model)):
            user.save()
    except DatabaseError:  # another process created it meanwhile, or the model needs more
        found = manager.filter(**lookup).values_list("pk", flat=True).first()
        if found is None:
            logger.warning(
                "The audit trail cannot create its user %r: writes by code are not recorded.",
                CODE_USER,
            )
        return found
    return user.pk
