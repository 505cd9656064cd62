"""Prometheus metrics (``django-tablecron[metrics]``): the counters of the processes that
fire and execute runs (``recorder``), the gauges read from the database at scrape time
(``collector``), a view to mount (``views``, ``urls``) and the scheduler's own port
(``serve()``). See docs/operations.md.

Nothing outside this package imports ``prometheus_client``.
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, start_http_server

from tablecron.contrib.prometheus.collector import Exposed


def serve(port: int, address: str = "127.0.0.1") -> WSGIServer:
    """Serve this process's metrics and the database's on ``address``:``port`` from a
    thread of their own (the scheduler's ``--metrics-port``)."""
    server, _ = start_http_server(
        port, addr=address, registry=Exposed(REGISTRY, close_connections=True)
    )
    return server
