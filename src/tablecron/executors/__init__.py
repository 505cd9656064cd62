"""Executors run claimed runs; the scheduler picks one by the ``EXECUTOR`` setting."""

from django.utils.module_loading import import_string

from tablecron.conf import settings
from tablecron.executors.base import Executor

__all__ = ["Executor", "get_executor"]


def get_executor() -> Executor:
    """A new instance of the executor the ``EXECUTOR`` setting names."""
    executor_class = import_string(settings.EXECUTOR)
    executor: Executor = executor_class()
    return executor
