# Sourced by scripts/example and scripts/test: makes .venv with Python >= 3.12 and the
# project installed in it. Safe to run again; it only does what is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

find_python() {
    local candidate version
    for candidate in python3.13 python3.12 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            command -v "$candidate"; return
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then  # pyenv installs Pythons it does not put on PATH
        for version in $(pyenv versions --bare 2>/dev/null | sort -rV); do
            candidate="$(pyenv root)/versions/$version/bin/python3"
            if [ -x "$candidate" ] \
                && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
                echo "$candidate"; return
            fi
        done
    fi
    echo "tablecron needs Python 3.12 or newer; none was found." >&2
    return 1
}

apt_updated=""
apt_install() {  # apt_install PACKAGE... : Debian packages this project needs, as root
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "== installing $* (apt)"
        [ -n "$apt_updated" ] || apt-get update -qq
        apt_updated=1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        echo "Install these Debian packages first: apt-get install $*" >&2
        exit 1
    fi
}

# mysqlclient compiles against the MariaDB client headers.
if ! pkg-config --exists libmariadb 2>/dev/null && ! pkg-config --exists mysqlclient 2>/dev/null; then
    apt_install libmariadb-dev pkg-config
fi
# GNU gettext: makemessages and compilemessages, for the translations in src/tablecron/locale.
command -v msgfmt >/dev/null 2>&1 || apt_install gettext
# The admin's browser tests drive Debian's Chromium (Playwright cannot download its own here).
if [ -n "${NEED_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
    apt_install chromium
fi
# The celery executor's tests stop and start a Redis broker of their own.
if [ -n "${NEED_CHROMIUM:-}" ] && ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server
fi

VENV="${VENV:-.venv}"
# The api, celery, django-tasks and metrics extras are optional: scripts/test proves the
# core without them. The docs extra builds the documentation site (mkdocs.yml); peers,
# the schedulers that "manage.py tablecron import" reads, for its tests.
EXTRAS="${EXTRAS:-dev,api,celery,django-tasks,metrics,docs,peers}"
if [ ! -x "$VENV/bin/python" ]; then
    PYTHON="$(find_python)"
    echo "== creating $VENV with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$VENV"
fi
DJANGO_SPEC="${DJANGO_SPEC:-}"
EXTRA_PACKAGES="${EXTRA_PACKAGES:-}"
# The tools that judge the code (mypy, the stubs, ruff, pytest and its plugins, ...) are
# pinned by scripts/constraints.txt; the library's own requirements are ranges.
constraints=scripts/constraints.txt
stamp="$VENV/.installed-$(echo "$EXTRAS $DJANGO_SPEC $EXTRA_PACKAGES" | cat - pyproject.toml scripts/setup.sh "$constraints" | sha1sum | cut -c1-12)"
if [ ! -e "$stamp" ]; then
    echo "== installing django-tablecron[$EXTRAS] into $VENV"
    "$VENV/bin/python" -m pip install -q -c "$constraints" --upgrade pip
    # shellcheck disable=SC2086  # EXTRA_PACKAGES is a list of words
    "$VENV/bin/python" -m pip install -q -c "$constraints" -e ".[$EXTRAS]" ${DJANGO_SPEC:+"$DJANGO_SPEC"} $EXTRA_PACKAGES
    if [[ ",$EXTRAS," == *,peers,* ]]; then
        # Its pins (Django < 6.1, cron-descriptor < 2) exclude tablecron's own requirements,
        # yet it works with them (tests/imports/): without its dependencies, which the peers
        # extra lists.
        "$VENV/bin/python" -m pip install -q --no-deps "django-celery-beat>=2.8,<3"
        # django-tasks-rq (the rq extra, for tests/executors/test_rq.py) requires
        # rq-scheduler, which requires "crontab", whose module replaces python-crontab's,
        # and django-celery-beat then fails to import: without it (django-rq does without).
        "$VENV/bin/python" -m pip install -q -c "$constraints" "django-rq>=3" "rq>=2.5" "django-tasks>=0.12"
        "$VENV/bin/python" -m pip install -q --no-deps "django-tasks-rq>=0.12,<1"
    fi
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi
