"""Signals sent around each run's execution, in the process that executes it.

``run_started``: sender ``JobRun``, keyword ``run`` (the ``JobRun``, status ``running``).
``run_finished``: sender ``JobRun``, keyword ``run`` (with its final status, result, error).
"""

from django.dispatch import Signal

run_started = Signal()
run_finished = Signal()

# ``jobs_written``: sender ``Job``, keyword ``writes`` (a list of ``models.job_audit.JobWrite``),
# ``using`` (the database alias). Sent by every ORM path that changes what a person edits
# (save, delete, create, update, bulk_create, bulk_update) and by ``Job.run_now()``, after
# the write, in its transaction; never by the scheduler, which writes its own columns in
# SQL. The audit trail (``tablecron.audit``) listens. Only computed when someone listens.
jobs_written = Signal()
