"""Field validators for what a person types into a job's arguments."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator, validate_email
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

from tablecron.conf import settings


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


validate_args = JSONArguments(list)
validate_kwargs = JSONArguments(dict)

# Queue names travel to brokers and task backends: letters, digits and . _ : - only.
validate_queue = RegexValidator(
    r"^[\w.:-]*\Z",
    _("Enter a queue name of letters, digits and . _ : - only, e.g. “reports”."),
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


def validate_emails(value: str) -> None:
    """Every address in a list of them (``email_list``) is one."""
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


# A webhook is POSTed to by the scheduler: http or https only.
validate_webhook = URLValidator(
    schemes=["http", "https"], message=_("Enter an http:// or https:// URL.")
)
