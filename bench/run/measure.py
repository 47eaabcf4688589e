"""One measurement: a discarded warm-up, then a timed run bracketed by the server's CPU and RSS.

Server CPU = the CPU seconds of the server's cgroup (bench.run.cgroup.CpuAccount: every thread and
child process, to the microsecond; the process tree's user + system time where no cgroup can be
made), read just before and just after the timed run; peak RSS = the largest sum of RSS over that
tree, sampled in the background during the run. A server the bench did not start (--target, no
--server-pid) reports both itself: process_cpu_seconds_total from its /metrics before and after, and
process_resident_memory_bytes after. CPU used meanwhile by the other servers still running (idle,
on the same CPUs) is recorded as background_cpu_s, to show that it is negligible.
"""

from __future__ import annotations

import os
import time

import psutil

from bench.analysis import stats
from bench.results import Run
from bench.run import loadgen, scrape
from bench.run.procs import PeakRss, Supervisor, tree_cpu_s, worker_cpu_s
from bench.run.servers import Server, ServerError, transport
from bench.settings import Settings


def tree_cpu(server: Server) -> float | None:
    """CPU seconds the server has used: its cgroup's count (every thread and child, to the µs)
    where it has one, else its process tree's /proc times (clock ticks)."""
    if server.account is not None:
        used = server.account.usage_s()
        if used is not None:
            return used
    if server.pid is None:
        return None
    try:
        return tree_cpu_s(server.pid)
    except psutil.Error:
        return None


def _workers(server: Server) -> dict[int, float]:
    if server.pid is None:
        return {}
    try:
        return worker_cpu_s(server.pid)
    except psutil.Error:
        return {}


def busy_s(cpus: list[int]) -> float:
    """Seconds these CPUs were not idle (any process, interrupts, hypervisor steal included)."""
    per_cpu = psutil.cpu_times(percpu=True)
    return sum(
        sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)
        for i, t in enumerate(per_cpu)
        if i in cpus
    )


def measure_run(
    sup: Supervisor,
    server: Server,
    others: list[Server],
    tool: str,
    warm_argv: list[str] | None,
    argv: list[str],
    raw_path: str,
    cpus: tuple[list[int], list[int]],
    settings: Settings,
    labels: dict,
    messages: int = 1,
) -> Run:
    """Run warm-up (if any) and the timed run; return its record.

    cpus = (server CPUs, client CPUs). CPU time spent on the server CPUs by anything other than the
    servers under test (other processes on the machine) is recorded as foreign_cpu_share. The
    server's /metrics (at server.endpoints["metrics"], when it has one) is read just outside the
    measured window. `messages` is the predict messages per tool request (a stream's messages).
    """
    server_cpus, client_cpus = cpus
    if warm_argv is not None:
        warm_raw = os.path.join(os.path.dirname(raw_path), "warmup.tmp")
        loadgen.measure(sup, tool, warm_argv, client_cpus, warm_raw, keep=False)
    watched = [s for s in others if s.pid is not None]
    metrics_before = scrape.scrape(server.endpoints.get("metrics"), ca=server.ca)
    before, bg_before, busy_before = tree_cpu(server), [tree_cpu(s) for s in watched], busy_s(server_cpus)
    workers_before = _workers(server)
    with PeakRss([server.pid] if server.pid else [], settings.rss_sample_interval_s) as rss:
        result, usage = loadgen.measure(sup, tool, argv, client_cpus, raw_path)
    after, bg_after, busy_after = tree_cpu(server), [tree_cpu(s) for s in watched], busy_s(server_cpus)
    workers_after = _workers(server)
    if server.endpoints.get("metrics"):
        time.sleep(scrape.SETTLE_S)
    metrics_after = scrape.scrape(server.endpoints.get("metrics"), ca=server.ca)
    answered, phases = scrape.phases_per_request(metrics_before, metrics_after, transport(labels["protocol"]))
    if server.proc is not None and server.proc.poll() is not None:
        raise ServerError(
            f"{server.name} exited (status {server.proc.returncode}) during {' '.join(argv)}; see {server.log_path}"
        )

    cpu_s = after - before if before is not None and after is not None else None
    rss_mb = rss.peak[server.pid] / 2**20 if server.pid and rss.peak[server.pid] else None
    if server.pid is None:  # a server the bench did not start: its own account on /metrics
        cpu_s, rss_mb = scrape.cpu_between(metrics_before, metrics_after), scrape.rss_mb(metrics_after)
    background = sum(a - b for a, b in zip(bg_after, bg_before) if a is not None and b is not None)
    util = stats.client_util(usage.cpu_s, usage.wall_s, len(client_cpus))
    foreign = None
    if cpu_s is not None and server.pid is not None:
        foreign = max(0.0, busy_after - busy_before - cpu_s - background) / (usage.wall_s * len(server_cpus))
    batch = labels.get("batch") or 1
    rps = result.ok * messages / result.elapsed_s if result.elapsed_s > 0 else None
    workers = [workers_after[pid] - workers_before[pid] for pid in sorted(workers_after) if pid in workers_before]
    return Run(
        **labels,
        tool=tool,
        requests=result.requests,
        ok=result.ok,
        errors=result.errors,
        error_kinds=result.error_kinds,
        elapsed_s=result.elapsed_s,
        rps=rps,
        rows_per_s=rps * batch if rps is not None else None,
        latency_ms=stats.latency_summary(result.latencies_ms),
        server_cpu_s=cpu_s,
        server_cpu_us_per_req=stats.per_request_us(cpu_s, result.ok * messages),
        server_rss_mb=rss_mb,
        worker_cpu_s=workers or None,
        background_cpu_s=background if watched else None,
        client_cpu_s=usage.cpu_s,
        client_wall_s=usage.wall_s,
        client_cpu_util=util,
        client_bound=stats.is_client_bound(util, settings.client_bound_threshold),
        foreign_cpu_share=foreign,
        noisy=foreign is not None and foreign >= settings.noise_threshold,
        # no answer at all: every request failed below HTTP (hey's CSV does not say how) or timed out
        no_answers=result.requests == 0,
        raw=os.path.relpath(raw_path + ".gz", os.path.dirname(os.path.dirname(raw_path))),
        command=argv,
        messages_per_request=messages,
        server_answered=answered,
        phases_us=phases,
    )
