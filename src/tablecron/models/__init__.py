"""The table: ``Job`` rows are the schedule, ``JobRun`` rows its history, ``RunOutput``
what the runs printed and logged."""

from tablecron.models.calendar import Calendar, CalendarDay, CalendarRule
from tablecron.models.group import ConcurrencyGroup
from tablecron.models.job import CodeStatus, Job, default_timezone
from tablecron.models.output import RunOutput
from tablecron.models.run import JobRun, RunStatus, RunTrigger
from tablecron.models.scheduler import SchedulerInstance

__all__ = [
    "Calendar",
    "CalendarDay",
    "CalendarRule",
    "CodeStatus",
    "ConcurrencyGroup",
    "Job",
    "JobRun",
    "RunOutput",
    "RunStatus",
    "RunTrigger",
    "SchedulerInstance",
    "default_timezone",
]
