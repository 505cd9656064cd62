"""Runs each claim at once, in the scheduler's own thread: for tests and ``tablecron run``."""

from tablecron.execution import Claim, execute
from tablecron.executors.base import Executor
from tablecron.outcomes import write_now


class ImmediateExecutor(Executor):
    name = "immediate"

    def submit(self, claim: Claim) -> None:
        execute(claim, write_now)
