# tablecron discovers jobs.py until its rename to tablecron_jobs.py lands; either way the
# task is registered once, by importing the module that defines it.
import benchapp.tablecron_jobs  # noqa: F401
