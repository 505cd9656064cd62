"""The worker process of ``EXECUTOR: "process"``. A spawned process imports this module
before Django is set up, so it imports nothing of tablecron's at the top."""

from __future__ import annotations

import json
from multiprocessing.connection import Connection

DONE = b"done"


def serve(conn: Connection) -> None:
    """Set Django up, then run each claim the scheduler sends, until it goes away."""
    import django

    django.setup()
    from tablecron import metrics
    from tablecron.execution import Claim, execute
    from tablecron.outcomes import write_now

    tally = metrics.Tally()  # the scheduler counts for its children: see metrics.replay()
    metrics.install(tally)
    while True:
        try:
            message = conn.recv_bytes()
        except EOFError:
            return
        execute(Claim.from_message(json.loads(message)), write_now)
        conn.send_bytes(DONE + json.dumps(tally.take()).encode())
