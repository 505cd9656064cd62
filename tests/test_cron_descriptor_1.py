"""tablecron with cron-descriptor 1.x, which django-celery-beat pins (docs/migrating.md):
the schedule-in-words and check tests again, in a child pytest that finds cron-descriptor
1.4.5 first on its path. pip installs it from its cache in a second or two."""

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from django.db import connection

from tests.support import ROOT

# The words do not depend on the database: once, in the SQLite suites.
pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="once, on SQLite")

OLD = "1.4.5"


@pytest.fixture(scope="module")
def old_cron_descriptor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("cron-descriptor-1")
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
    subprocess.run([*pip, f"cron-descriptor=={OLD}"], check=True, capture_output=True)
    return target


def test_the_suite_of_describe_and_checks_passes_with_cron_descriptor_1(
    old_cron_descriptor: Path,
) -> None:
    assert version("cron-descriptor") != OLD  # this process has the newer one
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(old_cron_descriptor), str(ROOT)])}
    tests = ["tests/test_describe.py", "tests/test_checks.py", "-k", "describe or cron or w011"]
    plugins = ["-p", "no:cacheprovider", "-p", "no:randomly", "--no-cov"]
    child = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", *plugins, *tests],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stdout + child.stderr
    assert "test_w011_cron_descriptor_1_says_what_it_lacks PASSED" in child.stdout
    # It did run on 1.4.5, whose check warned.
    probe = "import cron_descriptor; print(cron_descriptor.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert where.stdout.startswith(str(old_cron_descriptor))
