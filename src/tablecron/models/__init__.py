"""The table: ``Job`` rows are the schedule, ``JobRun`` rows its history."""

from tablecron.models.job import CodeStatus, Job, default_timezone
from tablecron.models.run import JobRun, RunStatus, RunTrigger
from tablecron.models.scheduler import SchedulerInstance

__all__ = [
    "CodeStatus",
    "Job",
    "JobRun",
    "RunStatus",
    "RunTrigger",
    "SchedulerInstance",
    "default_timezone",
]
