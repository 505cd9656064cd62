"""tablecron's side: the registered task that the bench's Job rows name.

Discovered as ``tablecron_jobs.py``, and as ``jobs.py`` (which imports this module) until
the discovery module's rename lands.
"""

import tablecron
from benchapp.recording import record as record_call

try:
    from tablecron.execution import current_claim
except ImportError:  # the executors are being rewritten: then the fire is matched like beat's
    current_claim = None


@tablecron.register(name="bench.record")
def record(job: str) -> None:
    claim = current_claim() if current_claim is not None else None
    record_call(job, claim.scheduled_for.timestamp() if claim is not None else None)
