"""Child processes of the bench: pinned start, clean stop, resource usage.

Supervisor owns every process the bench starts (servers and load generators). Each one runs in its
own session (so a Ctrl-C on the terminal reaches only the bench, which then stops them in order),
pinned with taskset, and with a parent-death signal (setpriv --pdeathsig) so that even a bench
killed with SIGKILL leaves nothing behind. Leaving the Supervisor's `with` block — normally, on an
exception or on Ctrl-C — stops everything still running: SIGTERM, wait, then SIGKILL of the tree.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

import psutil


def cpu_list(text: str) -> list[int]:
    """Parse a taskset-style CPU list ("0", "0-1", "2,4-5") into sorted CPU numbers."""
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise ValueError(f"CPU list {text!r}: {part!r} is not N or N-M")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    if not cpus:
        raise ValueError(f"CPU list {text!r} is empty")
    return sorted(cpus)


def cpu_text(cpus: list[int]) -> str:
    return ",".join(map(str, cpus))


@dataclass
class Usage:
    """Resource usage of one finished child: CPU seconds (user + system) and wall seconds."""

    cpu_s: float
    wall_s: float
    returncode: int


class Supervisor:
    """Starts pinned children and guarantees they are gone when the `with` block ends."""

    def __init__(self, stop_timeout_s: float = 15.0):
        self.stop_timeout_s = stop_timeout_s
        self._children: list[subprocess.Popen] = []
        self._pdeathsig = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()

    def spawn(
        self,
        argv: list[str],
        cpus: list[int] | None,
        *,
        env: dict | None = None,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd: str | None = None,
        preexec=None,
        stdin=subprocess.DEVNULL,
    ) -> subprocess.Popen:
        """Start a child in its own session (pinned to `cpus` with taskset unless None)."""
        pin = ["taskset", "-c", cpu_text(cpus)] if cpus else []
        full = [*self._pdeathsig, *pin, *argv]
        proc = subprocess.Popen(
            full,
            stdout=stdout,
            stderr=stderr,
            stdin=stdin,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            preexec_fn=preexec,
        )
        self._children.append(proc)
        return proc

    def run_measured(
        self, argv: list[str], cpus: list[int], stdout, stderr, cwd: str | None = None, env: dict | None = None
    ) -> Usage:
        """Run a child to completion and return its own CPU time (rusage of wait4) and wall time."""
        start = time.perf_counter()
        proc = self.spawn(argv, cpus, stdout=stdout, stderr=stderr, cwd=cwd, env=env)
        try:
            _, status, rusage = os.wait4(proc.pid, 0)
        except BaseException:
            self.stop(proc)
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
        self._children.remove(proc)
        return Usage(
            cpu_s=rusage.ru_utime + rusage.ru_stime, wall_s=time.perf_counter() - start, returncode=proc.returncode
        )

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM) -> int | None:
        """Signal the child (SIGTERM: it drains and exits), wait, then SIGKILL whatever of its tree is left."""
        try:
            tree = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            tree = []
        if proc.poll() is None:
            _signal(proc.pid, sig)
            try:
                proc.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                _signal(proc.pid, signal.SIGKILL)
                proc.wait()
        for child in tree:  # workers left by a master that died first or did not stop them
            try:
                child.wait(timeout=2)
            except psutil.TimeoutExpired:
                _signal(child.pid, signal.SIGKILL)
            except psutil.Error:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the child's own session/group: anything left in it
        except (ProcessLookupError, PermissionError):
            pass
        if proc in self._children:
            self._children.remove(proc)
        return proc.returncode

    def stop_all(self) -> None:
        for proc in reversed(list(self._children)):
            self.stop(proc)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants (reaped children included), in
    clock ticks (10 ms): the fallback where no cgroup counts a server's CPU (bench.run.cgroup.CpuAccount)."""
    total = 0.0
    for proc in tree(pid):
        try:
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def worker_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each worker process of a server: the leaves of its process
    tree (the processes that serve, below any supervisor or master), or the process itself."""
    root = psutil.Process(pid)
    tree = root.children(recursive=True)
    workers = [p for p in tree if not _has_children(p)] or [root]
    out = {}
    for proc in workers:
        try:
            t = proc.cpu_times()
            out[proc.pid] = t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return out


def rss_bytes(procs: list[psutil.Process]) -> int:
    """The RSS of these processes summed (one that has gone counts nothing)."""
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def tree_rss_mb(pid: int | None) -> float | None:
    """The RSS of a process and its descendants now, in MB (None: no pid, or the process has gone)."""
    if pid is None:
        return None
    try:
        return rss_bytes(tree(pid)) / 2**20
    except psutil.Error:
        return None


def interrupt_on_signals() -> None:
    """SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt, so that the Supervisor's `with` block is
    left and stops every child. SIGINT too, explicitly: a process started in the background by a
    non-interactive shell inherits SIGINT ignored, and Python then installs no handler of its own."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _has_children(proc: psutil.Process) -> bool:
    try:
        return bool(proc.children())
    except psutil.Error:
        return False


class PeakRss:
    """Background sampler of the peak RSS (sum over the process tree) of some processes.

    The tree is listed once per second (listing children scans all of /proc) and its members' RSS
    read every interval, so that the sampler costs the bench's CPU — the client's — little.
    """

    TREE_REFRESH_S = 1.0

    def __init__(self, pids: list[int], interval_s: float):
        self.pids, self.interval_s = pids, interval_s
        self.peak = dict.fromkeys(pids, 0)
        self._trees: dict[int, list[psutil.Process]] = {}
        self._listed_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="peak-rss", daemon=True)

    def __enter__(self) -> PeakRss:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(relist=True)

    def _sample(self, relist: bool = False) -> None:
        if relist or time.monotonic() - self._listed_at > self.TREE_REFRESH_S:
            for pid in self.pids:
                try:
                    self._trees[pid] = tree(pid)
                except psutil.Error:
                    self._trees[pid] = []
            self._listed_at = time.monotonic()
        for pid, procs in self._trees.items():
            self.peak[pid] = max(self.peak[pid], rss_bytes(procs))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()
