import gc
import logging
import signal
from typing import Any

from django.core.management.base import CommandError, CommandParser

from tablecron.conf import settings
from tablecron.management.subcommands import Subcommand
from tablecron.scheduler import Scheduler


class RunScheduler(Subcommand):
    help = "Run the scheduler in the foreground."
    description = (
        "Run the tablecron scheduler in the foreground. Run as many copies as you like: each "
        "due run fires exactly once. SIGTERM or SIGINT: stop claiming, let running jobs "
        "finish (up to SHUTDOWN_GRACE), exit 0."
    )

    @classmethod
    def add_arguments(cls, parser: CommandParser) -> None:
        parser.add_argument(
            "--metrics-port",
            type=int,
            metavar="PORT",
            help="Serve Prometheus metrics on this port (default: METRICS_PORT; 0: none).",
        )
        parser.add_argument(
            "--metrics-address",
            metavar="ADDRESS",
            help="The address to serve them on (default: METRICS_ADDRESS, 127.0.0.1).",
        )

    def handle(self, **options: Any) -> None:
        logger = logging.getLogger("tablecron")
        if not logger.handlers and not logging.getLogger().handlers:
            logging.basicConfig(
                level=logging.DEBUG if options["verbosity"] > 1 else logging.INFO,
                format="%(asctime)s %(levelname)s %(message)s",
            )
        port = options["metrics_port"]
        if port is None:
            port = settings.METRICS_PORT
        if port:
            self._serve_metrics(port, options["metrics_address"] or settings.METRICS_ADDRESS)
        scheduler = Scheduler()
        # What start-up made (Django's and the project's modules, models, URLs: most of
        # the process's objects) lives as long as the process: out of the cycle
        # collector's sight, whose full collections otherwise walk all of it while the
        # claim and the runs wait for the GIL (0.2-0.3 s each on a loaded machine).
        gc.collect()
        gc.freeze()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: scheduler.stop())
        scheduler.run()

    def _serve_metrics(self, port: int, address: str) -> None:
        try:
            from tablecron.contrib.prometheus import serve
        except ModuleNotFoundError as exc:
            raise CommandError(
                f"Serving metrics needs {exc.name}: pip install 'django-tablecron[metrics]'."
            ) from None
        try:
            serve(port, address)
        except OSError as exc:
            raise CommandError(f"Cannot serve metrics on {address}:{port}: {exc}") from None
        logging.getLogger("tablecron").info(
            "tablecron: metrics at http://%s:%d/metrics", address, port
        )
