"""The package as installed: its version comes from the distribution's metadata."""

import tomllib
from importlib.metadata import version

import tablecron
from tests.support import ROOT

PYPROJECT = ROOT / "pyproject.toml"


def test_version_is_the_installed_distributions_declared_in_pyproject() -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert tablecron.__version__ == version("django-tablecron") == declared
