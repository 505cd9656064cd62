"""Names shared by the running code and the migrations that install database objects."""

# PostgreSQL: the channel that the NOTIFY trigger of migration 0003 announces changes on.
NOTIFY_CHANNEL = "tablecron"
# PostgreSQL: a transaction-local setting; while it is 'on' that trigger stays silent
# (a claim's own writes need wake no one).
CLAIMING_SETTING = "tablecron.claiming"
# The run table's links to other runs (the run repeated, the run ran after): a raw
# delete of runs sets them to NULL in the runs that stay, as their SET_NULL would.
RUN_LINKS = ("rerun_of_id", "upstream_run_id")
