# tablecron discovered jobs.py before its rename to tablecron_jobs.py: importing the module
# that defines the task registers it once, whichever name this tablecron looks for.
import benchapp.tablecron_jobs  # noqa: F401
