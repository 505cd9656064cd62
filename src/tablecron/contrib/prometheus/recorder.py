"""The counters of the processes that fire and execute runs. In the client library's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``) each process writes its own file and the
view adds them up."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Counter, Histogram

from tablecron.metrics import Recorder

FIRES = Counter(
    "tablecron_fires",
    "Runs ended, by job and outcome (succeeded, failed, timed_out, missed, lost), counted "
    "by the process that ended them.",
    ["job_name", "outcome"],
)
LATENESS = Histogram(
    "tablecron_lateness_seconds",
    "From the time a run was due to its start.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300),
)
DURATION = Histogram(
    "tablecron_run_duration_seconds",
    "How long runs took, from start to end, by job.",
    ["job_name"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
)


class PrometheusRecorder(Recorder):
    """Counts into the metrics above. Each label set's child is kept at hand: finding it
    through ``labels()`` costs several times what counting does, on every run."""

    def __init__(self) -> None:
        self._fires: dict[tuple[str, str], Counter] = {}
        self._durations: dict[str, Histogram] = {}

    def run_started(self, job_name: str, due: datetime, started_at: datetime) -> None:
        LATENESS.observe(max(0.0, (started_at - due).total_seconds()))

    def run_ended(self, job_name: str, status: str, duration: float | None = None) -> None:
        fires = self._fires.get((job_name, status))
        if fires is None:
            fires = self._fires[job_name, status] = FIRES.labels(job_name, status)
        fires.inc()
        if duration is not None:
            durations = self._durations.get(job_name)
            if durations is None:
                durations = self._durations[job_name] = DURATION.labels(job_name)
            durations.observe(duration)
