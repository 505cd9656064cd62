"""What the tests share: factories, starting real processes, the bad-input table.

Test modules import from here and never from one another.
"""

from pathlib import Path

# The repository's root: the working directory of the processes the tests start.
ROOT = Path(__file__).resolve().parents[2]
