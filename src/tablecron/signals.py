"""Signals sent around each run's execution, in the process that executes it.

``run_started``: sender ``JobRun``, keyword ``run`` (the ``JobRun``, status ``running``).
``run_finished``: sender ``JobRun``, keyword ``run`` (with its final status, result, error).
"""

from django.dispatch import Signal

run_started = Signal()
run_finished = Signal()
