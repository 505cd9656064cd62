"""The package as installed: its version comes from the distribution's metadata."""

import re
import tomllib
from importlib.metadata import version

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import tablecron
from tests.support import ROOT

PYPROJECT = ROOT / "pyproject.toml"


def test_version_is_the_installed_distributions_declared_in_pyproject() -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert tablecron.__version__ == version("django-tablecron") == declared


def _pins() -> dict[str, str]:
    lines = (ROOT / "scripts" / "constraints.txt").read_text().splitlines()
    pairs = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {canonicalize_name(name): pin for name, pin in pairs}


def test_every_tool_that_judges_the_code_is_pinned_and_installed_at_its_pin() -> None:
    """scripts/constraints.txt pins the dev extra's tools: a fresh clone checks the code
    with the same mypy, stubs, ruff and pytest plugins as the last green CI."""
    pins = _pins()
    dev = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["dev"]
    tools = {canonicalize_name(Requirement(spec).name) for spec in dev}
    libraries = {"psycopg", "mysqlclient", "gunicorn", "aiosmtpd"}  # tested against ranges
    judges = tools - libraries
    assert judges - pins.keys() == set()
    assert {name: version(name) for name in judges} == {name: pins[name] for name in judges}


def test_each_extra_has_one_spelling_that_every_pip_finds() -> None:
    """setuptools writes an extra's name normalized (PEP 685: django_tasks becomes
    django-tasks), and pip before 23.3 looks up the name as typed: only a name that is
    already normalized is found by every pip. The docs and scripts spell it so."""
    extras = list(tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"])
    assert extras == [canonicalize_name(extra) for extra in extras]
    texts = [ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md"),
             *(ROOT / "src" / "tablecron").rglob("*.py")]  # fmt: skip
    mentioned = {
        extra
        for path in texts
        for named in re.findall(r"django-tablecron\[([\w,-]+)\]", path.read_text())
        for extra in named.split(",")
    }
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    default = re.search(r'EXTRAS="\$\{EXTRAS:-([\w,-]+)\}"', setup)
    assert default
    assert mentioned | set(default.group(1).split(",")) <= set(extras)
    assert "django-tasks" in mentioned
