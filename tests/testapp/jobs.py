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


try:  # Django 6's built-in Tasks, else the django-tasks backport (Django 5.2)
    from django.tasks import task
except ImportError:  # pragma: no cover - depends on the Django version
    from django_tasks import task


@tablecron.register
@task()
def send_digest(user_id: int, *, full: bool = False) -> str:
    """Send the weekly digest (a Django Task)."""
    return f"digest for {user_id}"


@tablecron.register
def typed(
    days: int,
    ratio: float = 1.0,
    tags: list[str] | None = None,
    options: dict[str, Any] | None = None,
    when: "Any" = None,
) -> None:
    """Annotated with JSON types, so the values are checked too."""
