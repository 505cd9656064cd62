"""What the tests share: factories, jobs for a scheduler driven in-process, real processes,
the bad-input table.

Test modules import from here and never from one another.
"""

from pathlib import Path

# The repository: where the processes that tests start run, beside pyproject.toml and example/.
ROOT = Path(__file__).resolve().parents[2]
