"""The worker process of ``EXECUTOR: "process"``. A spawned process imports this module
before Django is set up, so it imports nothing of tablecron's at the top."""

from __future__ import annotations

import json
from multiprocessing.connection import Connection

DONE = b"done"


def serve(conn: Connection) -> None:
    """Set Django up, then run each claim the scheduler sends, until it goes away."""
    import signal

    import django

    django.setup()
    from tablecron import metrics, running
    from tablecron.exceptions import RunCancelled
    from tablecron.execution import Claim, execute
    from tablecron.outcomes import write_now

    def stop(signum: int, frame: object) -> None:
        """The scheduler asks to stop the run (someone cancelled it): stop its task, if
        one runs now (else the run ended meanwhile: nothing to do)."""
        context = running.current()
        if context is not None:
            context.request_cancel(context.cancelled_by)
            raise RunCancelled

    signal.signal(signal.SIGTERM, stop)
    tally = metrics.Tally()  # the scheduler counts for its children: see metrics.replay()
    metrics.install(tally)
    while True:
        try:
            message = conn.recv_bytes()
        except EOFError:
            return
        execute(Claim.from_message(json.loads(message)), write_now)
        conn.send_bytes(DONE + json.dumps(tally.take()).encode())
