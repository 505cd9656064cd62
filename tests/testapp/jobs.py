"""Tasks the tests schedule; discovered like any app's jobs.py."""

from typing import Any

import tablecron


@tablecron.register
def add(a: int, b: int = 0) -> int:
    """Add two numbers."""
    return a + b


@tablecron.register(name="testapp.greet", description="Say hello.")
def greet(*, who: str, punctuation: str = "!") -> str:
    return f"Hello, {who}{punctuation}"


@tablecron.register
async def async_noop(**options: Any) -> None:
    """Do nothing, asynchronously."""


@tablecron.register
def noop() -> None:
    """Do nothing."""


def not_registered(x: int) -> int:
    return x
