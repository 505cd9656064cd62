import logging
import signal
from typing import Any

from tablecron.management.subcommands import Subcommand
from tablecron.scheduler import Scheduler


class RunScheduler(Subcommand):
    help = "Run the scheduler in the foreground."
    description = (
        "Run the tablecron scheduler in the foreground. Run as many copies as you like: each "
        "due run fires exactly once. SIGTERM or SIGINT: stop claiming, let running jobs "
        "finish (up to SHUTDOWN_GRACE), exit 0."
    )

    def handle(self, **options: Any) -> None:
        logger = logging.getLogger("tablecron")
        if not logger.handlers and not logging.getLogger().handlers:
            logging.basicConfig(
                level=logging.DEBUG if options["verbosity"] > 1 else logging.INFO,
                format="%(asctime)s %(levelname)s %(message)s",
            )
        scheduler = Scheduler()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: scheduler.stop())
        scheduler.run()
