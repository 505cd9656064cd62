"""The test settings, and Celery's: a broker, and a queue of this test run's own."""

import os

from tests.settings import *  # noqa: F403

CELERY_BROKER_URL = os.environ.get("TABLECRON_TEST_BROKER", "redis://127.0.0.1:6379/15")
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("TABLECRON_TEST_QUEUE", "tablecron-test")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# As docs/executors.md advises: Celery keeps database connections for 1,000 tasks (it
# closes them around every task otherwise, whatever CONN_MAX_AGE says); see celery_env().
CELERY_DB_REUSE_MAX = 1000
# How soon Redis gives an unacknowledged message to another worker (Celery's default: 1 h).
if "TABLECRON_TEST_VISIBILITY" in os.environ:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": float(os.environ["TABLECRON_TEST_VISIBILITY"]),
        "unacked_restore_interval": 1,  # look for such messages every second
        "unacked_restore_throttle": 1,
    }
