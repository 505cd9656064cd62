"""The table: ``Job`` rows are the schedule, ``JobRun`` rows its history."""

from tablecron.models.job import Job, default_timezone
from tablecron.models.run import JobRun, RunStatus, RunTrigger

__all__ = ["Job", "JobRun", "RunStatus", "RunTrigger", "default_timezone"]
