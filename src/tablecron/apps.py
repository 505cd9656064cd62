from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class TablecronConfig(AppConfig):
    name = "tablecron"
    verbose_name = _("Scheduled jobs")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tablecron.checks import register_checks

        register_checks()
        from tablecron import audit

        audit.install()
        # Like admin.py: every installed app's tablecron_jobs.py registers its tasks on
        # import. Not jobs.py, which django-extensions' jobs/ packages already use.
        autodiscover_modules("tablecron_jobs")
        _count_for_prometheus()
        from tablecron.conf import settings

        if settings.SCHEDULER_IN_WEB_WORKERS:
            from tablecron import web_workers

            web_workers.install()


def _count_for_prometheus() -> None:
    """Where the metrics extra is installed, this process counts its fires and runs."""
    from tablecron import metrics

    try:
        from tablecron.contrib.prometheus.recorder import PrometheusRecorder
    except ModuleNotFoundError as exc:
        if exc.name != "prometheus_client":
            raise
        return
    metrics.install(PrometheusRecorder())
