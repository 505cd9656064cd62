"""tablecron's side: the registered task that the bench's Job rows name. It records the
fire time its run was scheduled for, so its calls need no guessing (see calls.py)."""

import tablecron
from benchapp.recording import record as record_call
from tablecron.execution import current_claim


@tablecron.register(name="bench.record")
def record(job: str) -> None:
    claim = current_claim()
    record_call(job, claim.scheduled_for.timestamp() if claim is not None else None)
