"""A partition between hosts: one host's link to the database is cut while it runs a long job.

Two "hosts", network namespaces each with its own host name, reach a PostgreSQL cluster
of the bench's own (bench/cluster.py) over veth pairs: host A at 10.77.1.2 talks to the
server's 10.77.1.1, host B at 10.77.2.2 to 10.77.2.1. Each runs one real ``tablecron
scheduler``. Host A alone takes a long job (``record_and_sleep_once``: it records its
call, and its first attempt then sleeps ``--long`` seconds; ``max_retries`` 1); then B
starts, and ``--jobs`` every-second jobs fire on both. While A runs the long job, the
root side of A's veth goes down for ``--cut`` seconds (longer than ``LOST_AFTER``): A's
packets are dropped silently, as by a dead switch port. Then the link comes back.

What must hold, and is checked (exit status 1 otherwise):

- B marks A's runs ``lost`` and retries the long job (its second attempt runs on B);
- the cut-off scheduler's late writes are fenced: the long job's first attempt, which
  A finishes during the cut and writes once the link is back, stays ``lost``;
- A fires nothing it no longer owns: each call A makes after the cut belongs to a run
  that A holds and that is not ``lost``;
- no every-second fire runs twice, and each one due either ran or has a run saying why
  (``lost``, ``missed``);
- A rejoins: it registers again and fires again.

The long job itself runs twice (on A, cut off, and on B): the boundary that
docs/failures.md describes.

    .venv/bin/python bench/partition.py        # as root; about a minute and a half
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import Cluster  # noqa: E402

SETTINGS = {"HEARTBEAT_INTERVAL": 1, "LOST_AFTER": 6, "POLL_INTERVAL": 0.5}
TAG = str(os.getpid() % 100000)
HOSTS = {
    "a": ("10.77.1.1", "10.77.1.2"),  # the server's address on the link, the host's
    "b": ("10.77.2.1", "10.77.2.2"),
}


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def namespace(host: str) -> str:
    return f"tablecron-{host}-{TAG}"


def outer(host: str) -> str:
    """The root namespace's end of the host's link (at most 15 characters)."""
    return f"tc{host}{TAG}"


def make_network() -> None:
    for host, (server, address) in HOSTS.items():
        ns, link = namespace(host), outer(host)
        ip("netns", "add", ns)
        ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("addr", "add", f"{server}/24", "dev", link)
        ip("link", "set", link, "up")
        ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        ip("-n", ns, "link", "set", "lo", "up")


def remove_network() -> None:
    for host in HOSTS:
        subprocess.run(["ip", "link", "del", outer(host)], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "del", namespace(host)], stderr=subprocess.DEVNULL)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=20, help="every-second jobs")
    parser.add_argument("--long", type=float, default=20.0, help="seconds of the long job")
    parser.add_argument("--cut", type=float, default=20.0, help="seconds the link is down")
    parser.add_argument(
        "--phase", type=float, default=0.005, help="seconds after A's claim begins to cut"
    )
    parser.add_argument("--logs", type=Path, default=None)
    return parser.parse_args()


def main() -> int:
    opts = parse()
    logs = opts.logs or Path(tempfile.mkdtemp(prefix="tablecron-partition-"))
    logs.mkdir(parents=True, exist_ok=True)
    name = "partition"
    os.environ.update(
        TABLECRON_TEST_DB="postgres", DJANGO_SETTINGS_MODULE="tests.settings",
        TABLECRON_DB_NAME=name,
    )  # fmt: skip
    cluster = Cluster(("127.0.0.1", *(s for s, _ in HOSTS.values())), trusted="10.77.0.0/16")
    try:
        make_network()
        cluster.start()
        cluster.create_database(name)
        os.environ.update(cluster.env())
        print(
            f"partition: hosts A and B, {opts.jobs} every-second jobs, a {opts.long:.0f} s job "
            f"on A, A's link cut for {opts.cut:.0f} s (LOST_AFTER {SETTINGS['LOST_AFTER']} s); "
            f"logs in {logs}",
            flush=True,
        )
        return Partition(opts, logs, cluster).run()
    finally:
        cluster.remove()
        remove_network()


class Partition:
    def __init__(self, opts: argparse.Namespace, logs: Path, cluster: Cluster) -> None:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self.opts, self.logs, self.cluster = opts, logs, cluster
        self.path = logs / "calls.log"

    def spawn(self, host: str) -> subprocess.Popen[bytes]:
        """A scheduler on ``host``: in its namespace, with a host name of its own."""
        from tests.support.processes import child_env, start

        env = child_env(**SETTINGS)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
        env.update(self.cluster.env(HOSTS[host][0]))
        command = f"hostname host-{host} && exec {sys.executable} -m django tablecron scheduler"
        args = ["ip", "netns", "exec", namespace(host), "unshare", "--uts", "sh", "-c", command]
        return start(args, self.logs / f"scheduler-{host}.log", env)

    def sessions(self, host: str) -> dict[str, int]:
        """The states of ``host``'s sessions, as the server sees them."""
        with self.cluster.connect() as conn:
            rows = conn.execute(
                "SELECT state, COUNT(*) FROM pg_stat_activity WHERE client_addr = %s "
                "GROUP BY state",
                [HOSTS[host][1]],
            ).fetchall()
        return {str(state): int(str(n)) for state, n in rows}

    def run(self) -> int:
        from django.utils import timezone

        from tablecron.claiming import LOOKAHEAD
        from tablecron.db import db_now
        from tablecron.models import Job, JobRun, SchedulerInstance
        from tests.support.factories import T
        from tests.support.processes import every_second_jobs, stop, wait_for

        opts = self.opts
        a = self.spawn("a")
        procs = [a]
        try:
            wait_for(lambda: SchedulerInstance.objects.filter(host="host-a").exists(), 60, "A")
            Job.objects.create(
                name="long", task=T + "record_and_sleep_once", run_at=timezone.now(),
                kwargs={"path": str(self.path), "label": "long", "seconds": opts.long},
                max_retries=1, retry_delay=timedelta(seconds=1),
            )  # fmt: skip
            long_runs = JobRun.objects.filter(job_name="long").order_by("attempt")
            wait_for(lambda: long_runs.filter(status="running").exists(), 30, "the long job")
            a_id = long_runs[0].worker
            procs.append(self.spawn("b"))
            wait_for(lambda: SchedulerInstance.objects.filter(host="host-b").exists(), 60, "B")
            first = every_second_jobs(opts.jobs, self.path)
            time.sleep(3)
            # Just as A claims the fires of the next second (LOOKAHEAD before them): the
            # cut may fall into its claim's transaction.
            now = time.time()
            time.sleep(math.ceil(now) - now - LOOKAHEAD.total_seconds() + opts.phase)
            ip("link", "set", outer("a"), "down")
            cut, cut_at = time.monotonic(), db_now()
            print(f"cut A's link at {cut_at:%H:%M:%S.%f}", flush=True)
            time.sleep(0.5)
            print(f"  A's sessions on the server just after: {self.sessions('a')}", flush=True)
            wait_for(
                lambda: long_runs.filter(attempt=1, status="lost").exists(),
                opts.cut,
                "B to mark the long run lost",
            )
            lost_after = time.monotonic() - cut
            print(f"  B marked A's long run lost {lost_after:.1f} s after the cut", flush=True)
            time.sleep(max(0.0, cut + opts.cut - time.monotonic()))
            ip("link", "set", outer("a"), "up")
            restored, restored_at = time.monotonic(), db_now()
            print(f"link back at {restored_at:%H:%M:%S.%f}", flush=True)
            wait_for(
                lambda: (
                    SchedulerInstance.objects.filter(host="host-a").exists()
                    and a_pid_calls_after(self.path, a.pid, restored_at)
                ),
                90,
                "A to rejoin",
            )
            rejoined = time.monotonic() - restored
            print(f"  A registered again and fired again {rejoined:.1f} s later", flush=True)
            time.sleep(5)
            Job.objects.update(enabled=False)
            paused = db_now()
            wait_for(lambda: not JobRun.objects.active().exists(), 60, "runs to end")
        finally:
            stop(procs)
        return self.check(first, paused, cut_at, a_id, a.pid, [p.returncode for p in procs])

    def check(
        self,
        first: datetime,
        paused: datetime,
        cut_at: datetime,
        a_id: str,
        a_pid: int,
        codes: list[int | None],
    ) -> int:
        from tablecron.models import JobRun
        from tests.support.processes import calls, expected_fires

        recorded = calls(self.path)
        failures = []
        long = list(JobRun.objects.filter(job_name="long").order_by("attempt"))
        print("long job's runs: " + "; ".join(
            f"attempt {r.attempt} {r.status} on {r.worker.split(':')[0]} ({r.error[:60]!r})"
            for r in long
        ))  # fmt: skip
        long_calls = [c for c in recorded if c.label == "long"]
        by = ["A" if c.pid == a_pid else "B" for c in long_calls]
        print(f"  its calls: {len(long_calls)}, by {by}")
        if [(r.attempt, r.status) for r in long] != [(1, "lost"), (2, "succeeded")]:
            failures.append("the long job's first attempt is not lost, or was not retried")
        elif long[1].worker == a_id:
            failures.append("the retry ran on the cut-off host")
        runs = {
            (r.job_name, r.scheduled_for): r
            for r in JobRun.objects.filter(scheduled_for__gte=first).exclude(job_name="long")
        }
        every = [c for c in recorded if c.label != "long"]
        fired = Counter((c.label, c.scheduled_for) for c in every)
        duplicates = sum(1 for n in fired.values() if n > 1)
        expected = expected_fires(self.opts.jobs, first, paused - timedelta(seconds=1))
        absent = expected - set(fired)
        why = {f: runs[f].status for f in absent if f in runs}
        said = Counter(status for status in why.values() if status in ("lost", "missed"))
        silent = [f for f in absent if why.get(f) not in ("lost", "missed")]
        cut_ts = cut_at.timestamp()
        a_late = [c for c in every if c.pid == a_pid and c.called_at > cut_ts]
        not_owned = [
            c for c in a_late
            if (r := runs.get((c.label, c.scheduled_for))) is None
            or r.worker != a_id or r.status == "lost"
        ]  # fmt: skip
        lost_by_a = Counter(r.status for r in runs.values() if r.worker == a_id)
        print(
            f"every-second fires due: {len(expected):,}; ran: {len(expected) - len(absent):,}; "
            f"did not run, with a run saying why: {dict(said)}; A's runs by status: "
            f"{dict(lost_by_a)}"
        )
        print(
            f"A's calls after the cut: {len(a_late)}, of runs it no longer owned: {len(not_owned)}"
        )
        print(f"DUPLICATES: {duplicates}   SILENTLY ABSENT: {len(silent)}   exit codes {codes}")
        if duplicates:
            failures.append(f"{duplicates} every-second fires ran twice")
        if silent:
            failures.append(f"{len(silent)} fires neither ran nor say why: {sorted(silent)[:3]}")
        if not_owned:
            failures.append(f"A ran {len(not_owned)} fires it no longer owned: {not_owned[:3]}")
        if any(code != 0 for code in codes):
            failures.append(f"a scheduler did not stop cleanly: {codes}")
        for failure in failures:
            print(f"FAILED: {failure}")
        print("OK" if not failures else "FAILED")
        return 1 if failures else 0


def a_pid_calls_after(path: Path, pid: int, when: datetime) -> bool:
    from tests.support.processes import calls

    return any(c.pid == pid and c.called_at > when.timestamp() for c in calls(path))


if __name__ == "__main__":
    sys.exit(main())
