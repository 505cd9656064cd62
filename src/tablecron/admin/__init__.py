"""The Django admin for jobs, their runs and the live schedulers (see docs/admin.md).

Importing this package registers the three model admins on ``django.contrib.admin.site``.
"""

from tablecron.admin.calendars import CalendarAdmin
from tablecron.admin.groups import ConcurrencyGroupAdmin
from tablecron.admin.jobs import JobAdmin
from tablecron.admin.runs import JobRunAdmin, JobRunInline
from tablecron.admin.schedulers import SchedulerInstanceAdmin

__all__ = [
    "CalendarAdmin",
    "ConcurrencyGroupAdmin",
    "JobAdmin",
    "JobRunAdmin",
    "JobRunInline",
    "SchedulerInstanceAdmin",
]
