"""``conf``: each TABLECRON key declared once, read live, and documented as declared."""

import re
from datetime import timedelta
from pathlib import Path

from django.test import override_settings

from tablecron.conf import KEYS, Settings, settings

REFERENCE = Path(__file__).parent.parent / "docs" / "reference.md"


def documented_settings() -> dict[str, object]:
    """The ``TABLECRON = {...}`` block of docs/reference.md, as Python reads it."""
    block = re.search(r"```python\n(TABLECRON = \{\n.*?\n\})\n```", REFERENCE.read_text(), re.S)
    assert block is not None
    namespace: dict[str, object] = {"timedelta": timedelta}
    exec(block.group(1), namespace)
    documented = namespace["TABLECRON"]
    assert isinstance(documented, dict)
    return documented


def test_the_reference_lists_every_key_with_its_default() -> None:
    documented = documented_settings()
    assert list(documented) == list(KEYS)  # and in the order conf declares them
    for name, key in KEYS.items():
        value = documented[name]
        assert (tuple(value) if isinstance(value, list) else value) == key.default, name


def test_each_key_is_read_live_as_declared() -> None:
    assert settings.POLL_INTERVAL == 0.5
    assert settings.FAILED_RUN_RETENTION == settings.RUN_RETENTION == timedelta(days=30)
    with override_settings(
        TABLECRON={
            "POLL_INTERVAL": timedelta(seconds=2),
            "EXECUTOR": "process",
            "RUN_RETENTION": 60,
        }
    ):
        assert settings.POLL_INTERVAL == 2.0
        assert settings.EXECUTOR == "tablecron.executors.process.ProcessExecutor"
        assert timedelta(seconds=60) == settings.FAILED_RUN_RETENTION  # as RUN_RETENTION
    assert settings.POLL_INTERVAL == 0.5


def test_keys_are_the_settings_declarations() -> None:
    assert KEYS["MAX_WORKERS"] is Settings.MAX_WORKERS
    assert all(key.name == name for name, key in KEYS.items())
