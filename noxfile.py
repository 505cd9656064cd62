"""The support matrix: the SQLite suite on each Python and Django that tablecron supports
(README.md, "Supported versions"). CI runs part of it (scripts/test); the whole of it by
hand, about an hour on two cores:

    .venv/bin/nox                              # every session, one after the other
    .venv/bin/nox -s "sqlite-3.13(django='6.0')" -- -x tests/test_describe.py

nox looks for ``python3.12`` and ``python3.13`` on PATH; with pyenv, name both versions:
``PYENV_VERSION=3.12.1:3.13.0 .venv/bin/nox``. Each session's venv is kept in ``.nox/``
and reused; pip's cache makes a fresh one take seconds.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYTHONS = ["3.12", "3.13"]
DJANGOS = {"5.2": "Django>=5.2,<5.3", "6.0": "Django>=6.0,<6.1", "6.1": "Django>=6.1,<6.2"}
# The optional parts the suite tests (the docs extra only builds the site).
EXTRAS = "dev,api,celery,django-tasks,metrics,peers"


@nox.session(python=PYTHONS)
@nox.parametrize("django", list(DJANGOS))
def sqlite(session: nox.Session, django: str) -> None:
    """The suite on SQLite, with one Python and one Django."""
    spec = DJANGOS[django]
    constraints = ("-c", "scripts/constraints.txt")
    session.install(*constraints, "-e", f".[{EXTRAS}]", spec)
    if django == "5.2":  # Django Tasks is built into Django from 6.0; before, the backport
        session.install(*constraints, "django-tasks", spec)
    # Its pins (Django < 6.1, cron-descriptor < 2) exclude tablecron's; installed without
    # its dependencies, as scripts/setup.sh does (docs/migrating.md).
    session.install("--no-deps", "django-celery-beat>=2.8,<3")
    session.run("python", "-c", "import django; print('Django', django.__version__)")
    session.run(
        "pytest", "-p", "no:cacheprovider", *session.posargs, env={"TABLECRON_TEST_DB": "sqlite"}
    )
