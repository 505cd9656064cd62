"""What people who may not change jobs do not see: the values of arguments under keys that
look secret, and a webhook's credentials. The audit trail never stores them either.

A key looks secret when, written in lower case without ``_``, ``-``, ``.`` or spaces, it
contains one of ``SENSITIVE_WORDS`` or of ``TABLECRON["SENSITIVE_KEYS"]``: ``password``,
``db_password``, ``API-Key``, ``Authorization``, ``slack_token``. Everything under such a
key, a nested object included, is shown as ``MASK``, at any depth of ``args`` and
``kwargs``. A positional argument has no key: nothing tells that it is secret, so it is
shown (pass secrets by keyword, or better not at all: docs/security.md).

A webhook's URL is its credential (Slack's and Discord's hold their token in the path,
others in the query or the user part), so only its scheme, host and port are shown:
``https://hooks.slack.com/********``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from tablecron.conf import settings

MASK = "********"
SENSITIVE_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "authorization",
    "credential",
    "cookie",
    "signature",
)
# The fields of a job that hold them.
ARGUMENT_FIELDS = ("args", "kwargs")
URL_FIELDS = ("notify_webhook",)


def _normal(key: str) -> str:
    return re.sub(r"[\s_.\-]", "", key).lower()


def looks_secret(key: str) -> bool:
    """Whether the value under ``key`` is taken for a secret."""
    words = (*SENSITIVE_WORDS, *settings.SENSITIVE_KEYS)
    name = _normal(key)
    return any(_normal(word) in name for word in words if _normal(word))


def mask_arguments(value: Any) -> Any:
    """``value`` (JSON: a job's ``args`` or ``kwargs``) with every value under a key that
    looks secret replaced by ``MASK``, at any depth."""
    if isinstance(value, dict):
        return {
            key: MASK if looks_secret(str(key)) else mask_arguments(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask_arguments(item) for item in value]
    return value


def mask_url(url: Any) -> Any:
    """A webhook's URL with its credentials masked: its scheme, host and port are kept,
    the rest (user, path, query, fragment) is ``MASK``. An empty one stays empty."""
    if not isinstance(url, str) or not url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return MASK
    if not parts.scheme or not host:
        return MASK
    if "@" not in parts.netloc and parts.path in ("", "/") and not parts.query + parts.fragment:
        return url  # nothing but a host: nothing to hide
    return f"{parts.scheme}://{host}/{MASK}"


def unmask(value: Any, stored: Any) -> Any:
    """``value`` as sent back by someone who was shown ``mask_arguments(stored)``: ``MASK``
    left under a key that looks secret stands for what ``stored`` holds there."""
    if isinstance(value, dict) and isinstance(stored, dict):
        return {
            key: stored[key]
            if item == MASK and looks_secret(str(key)) and key in stored
            else unmask(item, stored.get(key))
            for key, item in value.items()
        }
    if isinstance(value, list) and isinstance(stored, list):
        padded = [*stored, *[None] * (len(value) - len(stored))]
        return [unmask(item, was) for item, was in zip(value, padded, strict=False)]
    return value


def reveals(user: Any) -> bool:
    """Whether ``user`` sees secrets whole: one who may change jobs (``change_job``)."""
    return bool(user is not None and user.has_perm("tablecron.change_job"))


def mask_field(name: str, value: Any) -> Any:
    """The value of the job's field ``name`` as a person who may not change jobs sees it."""
    if name in ARGUMENT_FIELDS:
        return mask_arguments(value)
    if name in URL_FIELDS:
        return mask_url(value)
    return value
