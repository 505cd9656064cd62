"""Names shared by the running code and the migrations that install database objects."""

# PostgreSQL: the channel that the NOTIFY trigger of migration 0003 announces changes on.
NOTIFY_CHANNEL = "tablecron"
# PostgreSQL: a transaction-local setting; while it is 'on' that trigger stays silent
# (a claim's own writes need wake no one).
CLAIMING_SETTING = "tablecron.claiming"
