"""The test settings, and Celery's: a broker, and a queue of this test run's own."""

import os

from tests.settings import *  # noqa: F403

CELERY_BROKER_URL = os.environ.get("TABLECRON_TEST_BROKER", "redis://127.0.0.1:6379/15")
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("TABLECRON_TEST_QUEUE", "tablecron-test")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
