"""The server's own CPU seconds and resident memory on /metrics (metrics.json:
process_cpu_seconds_total, process_resident_memory_bytes), summed over its whole process tree.

prometheus_client's multiprocess mode has no process metrics of its own (its default process
collector would describe only the one process answering the scrape), so this collector walks the
tree from its root (the supervisor, whose pid the supervisor hands every worker in TREE_PID_ENV;
the process itself outside a supervised tree): the CPU of every live process plus what each has
reaped of its children (a worker that died and was replaced still counts), and the RSS of every
live process. So a server the bench did not start is measured like one it did.
"""

import os

from python_service import contract

TREE_PID_ENV = "SERVEBENCH_TREE_PID"
_HELP = {m["name"]: m["help"] for m in contract.load("metrics.json")["metrics"]}


def tree_root():
    """The pid of the server's root process (the supervisor), or this process's own."""
    pid = os.environ.get(TREE_PID_ENV, "")
    return int(pid) if pid.isdigit() else os.getpid()


def tree_usage(root_pid):
    """(CPU seconds, RSS bytes) of the process `root_pid` and its descendants."""
    import psutil

    root = psutil.Process(root_pid)
    cpu, rss = 0.0, 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            with proc.oneshot():
                t, memory = proc.cpu_times(), proc.memory_info()
        except psutil.Error:  # it exited meanwhile: its parent's reaped-children time has it
            continue
        cpu += t.user + t.system + t.children_user + t.children_system
        rss += memory.rss
    return cpu, rss


class TreeCollector:
    """A prometheus_client collector of the tree's process_cpu_seconds_total and
    process_resident_memory_bytes."""

    def __init__(self, root_pid=None):
        self.root_pid = root_pid

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        try:
            cpu, rss = tree_usage(self.root_pid or tree_root())
        except Exception:  # the root has gone (the tree is stopping): nothing to say
            return
        yield CounterMetricFamily("process_cpu_seconds", _HELP["process_cpu_seconds_total"], value=cpu)
        yield GaugeMetricFamily("process_resident_memory_bytes", _HELP["process_resident_memory_bytes"], value=rss)
