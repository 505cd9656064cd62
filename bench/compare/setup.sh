# Makes .venv-bench: this tree's tablecron (editable) beside the peers it is compared with,
# installed for the bench only. Safe to run again; it only does what is missing.
# Usage: bash bench/compare/setup.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

VENV="${VENV:-.venv-bench}"
PACKAGES=(
    -e ".[postgres]"
    "celery[redis]>=5.4"
    "django-celery-beat>=2.7"
    "django-apscheduler>=0.7"
    "django-tasks-db>=0.13"
    "psycopg[binary]>=3.1.8"
)
find_python() {
    local candidate version
    for candidate in python3.13 python3.12 python3; do
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            command -v "$candidate"; return
        fi
    done
    # pyenv installs Pythons it does not put on PATH (its shims answer for the active one only).
    for version in $(pyenv versions --bare 2>/dev/null | sort -rV); do
        candidate="$(pyenv root)/versions/$version/bin/python3"
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            echo "$candidate"; return
        fi
    done
    echo "bench/compare needs Python 3.12 or newer; none was found." >&2
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    PYTHON="$(find_python)"
    echo "== creating $VENV with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.installed-$(cat pyproject.toml bench/compare/setup.sh | sha1sum | cut -c1-12)"
if [ ! -e "$stamp" ]; then
    echo "== installing tablecron and its peers into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q "${PACKAGES[@]}"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi
