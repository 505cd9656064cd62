"""tablecron: a database table as the control panel of a job scheduler."""

from importlib.metadata import version

from tablecron.code_jobs import declare
from tablecron.registry import register

__all__ = ["__version__", "declare", "register"]
# Declared once, in pyproject.toml; read from the installed distribution.
__version__ = version("django-tablecron")
