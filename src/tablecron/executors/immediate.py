"""Runs each claim at once, in the scheduler's own thread: for tests and ``runjob``."""

from tablecron.executors.base import Claim, Executor


class ImmediateExecutor(Executor):
    def submit(self, claim: Claim) -> None:
        from tablecron.execution import execute

        execute(claim)
