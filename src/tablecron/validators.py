"""Field validators for what a person types into a job: text, arguments, durations."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator, validate_email
from django.utils.deconstruct import deconstructible
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from tablecron import webhooks
from tablecron.conf import settings
from tablecron.exceptions import InvalidSchedule
from tablecron.schedules import MAX_DURATION, require_moment

# How deep a job's arguments may nest (a list in a list ... counts one level each): deep
# enough for any real payload, shallow enough that nothing recurses out of stack.
MAX_JSON_DEPTH = 32


def storable(value: str) -> bool:
    """Whether every database can store ``value`` (and a response can quote it)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


def validate_text(value: Any) -> None:
    """Text every database can store: no NUL character (PostgreSQL refuses it) and no
    lone surrogate (no database driver can encode one)."""
    if isinstance(value, str) and not storable(value):
        raise ValidationError(
            _("Remove the NUL characters and unpaired surrogates: they cannot be stored."),
            code="characters",
        )


@deconstructible
class JSONArguments:
    """Accepts strict JSON of one container type (list for args, dict for kwargs), size-capped."""

    messages: dict[type, Any] = {
        list: _('Enter the positional arguments as a JSON list, for example [1, "two"].'),
        dict: _('Enter the keyword arguments as a JSON object, for example {"days": 7}.'),
    }

    def __init__(self, kind: type) -> None:
        self.kind = kind

    def __call__(self, value: Any) -> None:
        if not isinstance(value, self.kind):
            raise ValidationError(self.messages[self.kind], code="type")
        if isinstance(value, dict) and not all(isinstance(key, str) for key in value):
            raise ValidationError(_("Keyword argument names must be strings."), code="type")
        _check_nesting_and_text(value)
        try:
            size = len(json.dumps(value, allow_nan=False, separators=(",", ":")).encode())
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                _("Only JSON values can be stored here (%(reason)s)."),
                code="json",
                params={"reason": exc},
            ) from None
        if size > settings.ARGS_MAX_BYTES:
            raise ValidationError(
                _("These arguments take %(size)d bytes as JSON; at most %(limit)d are allowed."),
                code="size",
                params={"size": size, "limit": settings.ARGS_MAX_BYTES},
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JSONArguments) and other.kind is self.kind

    def __hash__(self) -> int:
        return hash(self.kind)

    def is_valid(self, value: Any) -> bool:
        try:
            self(value)
        except ValidationError:
            return False
        return True


def json_depth(value: Any) -> int:
    """How deep ``value`` nests (a scalar 0, ``[]`` 1, ``{"a": [1]}`` 2), found without
    recursion, so that no depth can exhaust the stack."""
    deepest = 0
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list | tuple):
            continue
        deepest = max(deepest, depth + 1)
        pending.extend((child, depth + 1) for child in item)
    return deepest


def validate_json_depth(value: Any) -> None:
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ValidationError(
            _("Nest these arguments at most %(limit)d levels deep."),
            code="depth",
            params={"limit": MAX_JSON_DEPTH},
        )


def _check_nesting_and_text(value: Any) -> None:
    """Refuses nesting deeper than ``MAX_JSON_DEPTH``, and strings (values or keys) that
    no database can store."""
    validate_json_depth(value)
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend([*item.keys(), *item.values()])
        elif isinstance(item, list | tuple):
            pending.extend(item)
        else:
            validate_text(item)


validate_args = JSONArguments(list)
validate_kwargs = JSONArguments(dict)

# Queue names travel to brokers and task backends: ASCII letters, digits and . _ : - only
# (as JSON Schema's patterns read them too: their \w is ASCII).
validate_queue = RegexValidator(
    r"^[A-Za-z0-9_.:-]+\Z",  # blank is the default queue: validators skip it
    _("Enter a queue name of letters, digits and . _ : - only, e.g. “reports”."),
    code="queue",
)


def check_queue_accepted(queue: str) -> None:
    """A queue the configured executor does not accept, where it can say which it does
    (a Django Tasks backend with ``QUEUES``): a field error, instead of a run that fails
    when it is sent."""
    if not queue:
        return
    accepted = import_string(settings.EXECUTOR).queues()
    if accepted is not None and queue not in accepted:
        raise ValidationError(
            _("“%(queue)s” is not a queue of the executor's backend. Choose one of: %(known)s.")
            % {"queue": queue, "known": ", ".join(sorted(accepted))},
            code="queue",
        )


def error_text(exc: ValidationError) -> str:
    """A model's validation errors on one line, each after its field's name: for reports
    that commands print per row."""
    return "; ".join(
        " ".join(messages) if name == "__all__" else f"{name}: {' '.join(messages)}"
        for name, messages in exc.message_dict.items()
    )


def email_list(value: str) -> list[str]:
    """The addresses in a field of addresses separated by commas or white space."""
    return [address for address in value.replace(",", " ").split() if address]


def allowed_email(address: str) -> bool:
    """Whether notifications may go to ``address``: ``NOTIFY_EMAIL_DOMAINS`` is empty, or
    names its domain or a domain above it (``example.com`` allows ``ops.example.com``)."""
    allowed = [domain.strip().strip(".").lower() for domain in settings.NOTIFY_EMAIL_DOMAINS]
    if not allowed:
        return True
    domain = address.rpartition("@")[2].strip().rstrip(".").lower()
    return any(domain == name or domain.endswith(f".{name}") for name in allowed)


def validate_emails(value: str) -> None:
    """Every address in a list of them (``email_list``) is one, in a domain notifications
    may go to (``allowed_email``). Text that cannot be stored is ``validate_text``'s to
    refuse: it is not quoted back here."""
    if not storable(value):
        return
    bad = []
    for address in email_list(value):
        try:
            validate_email(address)
        except ValidationError:
            bad.append(address)
    if bad:
        raise ValidationError(
            _("Enter e-mail addresses separated by commas; these are not: %(bad)s."),
            code="email",
            params={"bad": ", ".join(bad)},
        )
    outside = [address for address in email_list(value) if not allowed_email(address)]
    if outside:
        raise ValidationError(
            _("Notifications go to addresses at %(domains)s only; these are not: %(bad)s."),
            code="email_domain",
            params={"domains": ", ".join(settings.NOTIFY_EMAIL_DOMAINS), "bad": ", ".join(outside)},
        )


# A webhook is POSTed to by the scheduler: http or https only.
validate_webhook = URLValidator(
    schemes=["http", "https"], message=_("Enter an http:// or https:// URL.")
)


def validate_webhook_address(value: str) -> None:
    """A webhook's host is not written as an internal address (``tablecron.webhooks``).
    Called by ``Job.clean()``, not listed on the field: the setting that allows hosts is
    read live, and a field's validators are frozen into its migrations."""
    problem = webhooks.refusal(value)
    if problem:
        raise ValidationError(problem, code="internal_address")


def validate_duration(value: Any) -> None:
    """Durations the scheduler adds to fire times (an interval, a jitter, a misfire grace,
    a timeout, a retry delay) stay within ``MAX_DURATION``."""
    if value is not None and value > MAX_DURATION:
        raise ValidationError(
            _("Enter a duration of at most %(days)d days."),
            code="max_value",
            params={"days": MAX_DURATION.days},
        )


def validate_moment(value: Any) -> None:
    """A date and time with a time zone, within the years schedules accept."""
    if value is not None:
        try:
            require_moment(value)
        except InvalidSchedule as exc:
            raise ValidationError(exc.message, code="moment") from None
