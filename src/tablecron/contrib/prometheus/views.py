"""The metrics view; ``tablecron.contrib.prometheus.urls`` mounts it.

Under a server of several processes (gunicorn's workers) set ``PROMETHEUS_MULTIPROC_DIR``
for all of them: the view then adds up every process's counters, whichever process
answers the scrape.
"""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from tablecron.conf import settings
from tablecron.contrib.prometheus.collector import Exposed


def process_metrics() -> Collector:
    """Every process's counters in multiprocess mode, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return MultiProcessCollector(None)  # type: ignore[no-untyped-call]
    return REGISTRY


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The metrics in Prometheus's text format (or OpenMetrics, if asked); with
    ``METRICS_TOKEN`` set, only for ``Authorization: Bearer <token>``."""
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and not constant_time_compare(given, f"Bearer {token}"):
        return HttpResponse(status=401, headers={"WWW-Authenticate": "Bearer"})
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(Exposed(process_metrics())), content_type=content_type)
