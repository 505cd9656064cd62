"""tablecron: a database table as the control panel of a job scheduler."""

from tablecron.registry import register

__all__ = ["__version__", "register"]
__version__ = "0.1.0.dev0"
