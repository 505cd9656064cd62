"""Gateways to code: callables that run whatever code or command their arguments name.

A job's arguments come from whoever may edit jobs (in the admin, the API or a form of
your own), so a task that is such a gateway would let them run anything as the
scheduler's user. tablecron refuses to register or run one, whatever ``ALLOWED_TASKS``
says, and the system check ``tablecron.E014`` names it.

A callable is recognised by what it is, not by the name it was allowed under: its own
module and name, each layer of it (a ``functools.partial``, a bound method, a decorator's
``__wrapped__``), and its identity with the listed callables, so that a re-export
(``myapp.utils.run = subprocess.run``) or an alias (``os.system`` is ``posix.system``)
is caught too. The lists name what runs code or commands in the standard library, Django
and common packages; they cannot know every function written to pass its arguments on,
which is why ``ALLOWED_TASKS`` should only name functions whose every argument anyone
who edits jobs may choose.
"""

from __future__ import annotations

import fnmatch
import functools
import inspect
import sys
from collections.abc import Iterator
from typing import Any

# Every callable of these modules. Matched by the module's exact name: a project's own
# package that happens to share one ("profile", "code", "site") is not matched by its
# submodules.
GATEWAY_MODULES = (
    "builtins",  # eval, exec, compile, __import__, open, getattr ...
    "subprocess",
    "_posixsubprocess",
    "pty",
    "asyncio.subprocess",  # create_subprocess_exec and _shell
    "pkgutil",
    "zipimport",
    "runpy",
    "site",  # addsitedir runs the directory's .pth files
    "code",
    "codeop",
    "timeit",  # timeit("statement") runs the statement
    "pdb",
    "bdb",
    "profile",
    "cProfile",
    "trace",
    "doctest",
    "pickle",  # loading a pickle calls what it names
    "_pickle",
    "marshal",
    "shelve",
    "_ctypes",
    "logging.config",  # dictConfig's "()" calls any dotted path
    "django.utils.module_loading",  # import_string
    "webbrowser",  # runs the browser program the environment names
)
# Every callable of these packages and of their submodules.
GATEWAY_PACKAGES = (
    "importlib",  # import_module: importing a module runs it
    "ctypes",
    "django.core.management",  # call_command("shell", command=...), execute_from_command_line
    "IPython",
    "dill",
    "cloudpickle",
    "jsonpickle",
)
# Single callables of modules that are otherwise safe (fnmatch patterns).
GATEWAY_CALLABLES = (
    "os.system",
    "os.popen",
    "os.exec*",
    "os.spawn*",
    "os.posix_spawn*",
    "os.startfile",
    "asyncio.create_subprocess_*",
    "yaml.load",
    "yaml.load_all",
    "yaml.full_load*",
    "yaml.unsafe_load*",
    "joblib.load",
    "pandas.read_pickle",
    "torch.load",
)


def gateway_of(target: Any, path: str = "") -> str | None:
    """The dotted name of the gateway to code that ``target`` is (or wraps), or None.

    ``path`` is the dotted path ``target`` was imported from, if any.
    """
    if path and _listed_callable(path):
        return path
    for layer in _layers(target):
        module = getattr(layer, "__module__", None)
        qualname = getattr(layer, "__qualname__", None)
        if isinstance(module, str) and isinstance(qualname, str):
            name = f"{module}.{qualname}"
            if _listed_module(module) or _listed_callable(name):
                return name
    for layer in _layers(target):
        for name, gateway in _loaded_gateways():
            if layer is gateway:
                return name
    return None


def _layers(target: Any) -> Iterator[Any]:
    """``target`` and what it calls through: partials, bound methods, ``__wrapped__``,
    and the class of a callable instance."""
    seen: set[int] = set()
    pending = [target]
    while pending:
        layer = pending.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        if isinstance(layer, functools.partial):
            pending.append(layer.func)
        if inspect.ismethod(layer):
            pending.append(layer.__func__)
        wrapped = getattr(layer, "__wrapped__", None)
        if wrapped is not None:
            pending.append(wrapped)
        instance = not (inspect.isroutine(layer) or inspect.isclass(layer))
        if instance and type(layer).__module__ != "builtins":
            pending.append(type(layer))  # a callable instance: its class's __call__ runs


def _listed_module(module: str) -> bool:
    return module in GATEWAY_MODULES or any(
        module == package or module.startswith(f"{package}.") for package in GATEWAY_PACKAGES
    )


def _listed_callable(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in GATEWAY_CALLABLES)


def _loaded_gateways() -> Iterator[tuple[str, Any]]:
    """(dotted name, object) of each of ``GATEWAY_CALLABLES`` whose module is imported: a
    target that aliases one has imported it already. (A callable of ``GATEWAY_MODULES``
    or ``GATEWAY_PACKAGES`` is known by its own ``__module__``.)"""
    for pattern in GATEWAY_CALLABLES:
        module_name, _, attribute_pattern = pattern.rpartition(".")
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for attribute, value in list(vars(module).items()):
            if callable(value) and fnmatch.fnmatchcase(attribute, attribute_pattern):
                yield f"{module_name}.{attribute}", value
