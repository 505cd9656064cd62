# The whole comparison in one command: makes .venv-bench if needed, then runs compare.py.
# Usage: bash bench/compare/run.sh [--quick] [--only sustained,drain,restart] [--sides ...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bash bench/compare/setup.sh
exec .venv-bench/bin/python bench/compare/compare.py "$@"
