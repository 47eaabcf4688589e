"""Cgroups for the servers under test: a CPU cap (CpuCap), with the kernel's CFS bandwidth control —
the same idea as grpc_bench's `docker --cpus`, without Docker, so that the server (not the load
generator) is the bottleneck of a capacity sweep — and a CPU account (CpuAccount): a cgroup that only
counts the CPU time of every thread of every process in it, dead or alive, to the microsecond.

cgroup v2 (`cpu.max` in a cgroup of the unified hierarchy, with the cpu controller) or v1
(`cpu.cfs_quota_us` / `cpu.cfs_period_us` under the cpu controller's mount), whichever is writable.
A server started with `preexec` (or moved with `add`) lives in the group; `close` moves its
processes back and removes the group.
"""

from __future__ import annotations

import os

V2_ROOT = "/sys/fs/cgroup"
V1_CANDIDATES = ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuacct,cpu")
V2_MOUNTS = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")  # a cgroup2 root (pure v2, or hybrid's unified)
V1_CPUACCT = ("/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuacct,cpu")
MIN_QUOTA_US = 1000  # the kernel refuses a quota under 1 ms


class CgroupError(RuntimeError):
    """No writable cgroup CPU controller, or the kernel refused the quota."""


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as fh:
        fh.write(text)


def _v2_parent() -> str | None:
    """A cgroup v2 directory where a child group gets the cpu controller, or None."""
    for candidate in (V2_ROOT, os.path.join(V2_ROOT, "unified")):
        controllers = os.path.join(candidate, "cgroup.controllers")
        try:
            with open(controllers, encoding="ascii") as fh:
                if "cpu" not in fh.read().split():
                    continue
            with open(os.path.join(candidate, "cgroup.subtree_control"), encoding="ascii") as fh:
                enabled = fh.read().split()
            if "cpu" not in enabled:
                _write(os.path.join(candidate, "cgroup.subtree_control"), "+cpu")
            return candidate
        except OSError:
            continue
    return None


def _v1_parent() -> str | None:
    for candidate in V1_CANDIDATES:
        if os.access(os.path.join(candidate, "cpu.cfs_quota_us"), os.W_OK):
            return candidate
    return None


class CpuCap:
    """A cgroup capping its processes to `quota` CPUs (e.g. 0.25) in periods of `period_us`, with
    `burst_us` of unused quota carried over to absorb bursts (v2 cpu.max.burst, v1 cpu.cfs_burst_us;
    0: none, the kernel's default)."""

    def __init__(self, name: str, quota: float, period_us: int, burst_us: int = 0):
        if quota <= 0:
            raise CgroupError(f"CPU quota {quota} must be positive")
        quota_us = round(quota * period_us)
        if quota_us < MIN_QUOTA_US:
            raise CgroupError(
                f"CPU quota {quota} × period {period_us} µs = {quota_us} µs is under the kernel's 1 ms minimum; "
                "use a longer period"
            )
        self.quota, self.period_us, self.burst_us = quota, period_us, burst_us
        parent = _v2_parent()
        self.version = 2 if parent else 1
        parent = parent or _v1_parent()
        if parent is None:
            raise CgroupError(
                "no writable cgroup CPU controller (cgroup v2 cpu.max or v1 cpu.cfs_quota_us): run as root on a "
                "host with the cpu controller, or set BENCH_SERVER_CPU_QUOTA=none to measure without a cap"
            )
        self.parent, self.path = parent, os.path.join(parent, f"servebench-{os.getpid()}-{name}")
        try:
            os.makedirs(self.path, exist_ok=True)
            if self.version == 2:
                _write(os.path.join(self.path, "cpu.max"), f"{quota_us} {period_us}")
                if burst_us:
                    _write(os.path.join(self.path, "cpu.max.burst"), str(burst_us))
            else:
                _write(os.path.join(self.path, "cpu.cfs_period_us"), str(period_us))
                _write(os.path.join(self.path, "cpu.cfs_quota_us"), str(quota_us))
                if burst_us:
                    _write(os.path.join(self.path, "cpu.cfs_burst_us"), str(burst_us))
        except OSError as exc:
            self.close()
            raise CgroupError(f"cannot set a CPU quota in {self.path}: {exc.strerror}") from None

    @property
    def procs_file(self) -> str:
        return os.path.join(self.path, "cgroup.procs")

    def add(self, pid: int) -> None:
        """Move a process (and the threads and children it makes from now on) into the group."""
        _write(self.procs_file, str(pid))

    def preexec(self) -> None:
        """For subprocess's preexec_fn: the child joins the group before it execs."""
        _write(self.procs_file, str(os.getpid()))

    def usage_s(self) -> float | None:
        """CPU seconds used by the group's processes (v2 cpu.stat; v1 when cpuacct shares the mount)."""
        return _usage_s(self.path, self.version)

    def describe(self) -> str:
        burst = f", burst {self.burst_us / 1000:g} ms" if self.burst_us else ""
        return f"quota {self.quota:g} CPU, period {self.period_us / 1000:g} ms{burst} (cgroup v{self.version})"

    def throttling(self) -> dict[str, float]:
        """The kernel's throttling counters: periods, throttled periods, throttled seconds."""
        out = {}
        try:
            with open(os.path.join(self.path, "cpu.stat"), encoding="ascii") as fh:
                for line in fh:
                    key, _, value = line.partition(" ")
                    out[key] = float(value)
        except OSError:
            return {}
        throttled_s = out.get("throttled_usec", out.get("throttled_time", 0.0) / 1e3) / 1e6
        return {
            "periods": out.get("nr_periods", 0.0),
            "throttled": out.get("nr_throttled", 0.0),
            "throttled_s": throttled_s,
        }

    def close(self) -> None:
        """Move any process left back to the parent group, then remove the group."""
        try:
            with open(self.procs_file, encoding="ascii") as fh:
                pids = [line.strip() for line in fh if line.strip()]
            for pid in pids:
                try:
                    _write(os.path.join(self.parent, "cgroup.procs"), pid)
                except OSError:
                    pass
            os.rmdir(self.path)
        except OSError:
            pass

    def __enter__(self) -> CpuCap:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _usage_s(path: str, version: int) -> float | None:
    try:
        if version == 2:
            with open(os.path.join(path, "cpu.stat"), encoding="ascii") as fh:
                for line in fh:
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        return int(value) / 1e6
            return None
        with open(os.path.join(path, "cpuacct.usage"), encoding="ascii") as fh:
            return int(fh.read()) / 1e9
    except (OSError, ValueError):
        return None


class CpuAccount:
    """A cgroup without limits that counts its processes' CPU time: cgroup v2's cpu.stat usage_usec
    (every v2 cgroup has it) or v1's cpuacct.usage (ns). Unlike a process tree's /proc times (clock
    ticks, 10 ms) or its live threads' schedstat (which loses a thread that ends — a server that
    serves each request on a thread of its own), it counts every thread and child that ever ran
    in it. `create` gives None where no cgroup is writable (not root): the caller falls back."""

    def __init__(self, path: str, version: int):
        self.path, self.version = path, version

    @classmethod
    def create(cls, name: str) -> CpuAccount | None:
        leaf = f"servebench-{os.getpid()}-acct-{name}"
        for version, mounts in ((2, V2_MOUNTS), (1, V1_CPUACCT)):
            for mount in mounts:
                marker = "cgroup.controllers" if version == 2 else "cpuacct.usage"
                if not os.path.exists(os.path.join(mount, marker)):
                    continue
                path = os.path.join(mount, leaf)
                try:
                    os.makedirs(path, exist_ok=True)
                except OSError:
                    continue
                account = cls(path, version)
                if account.usage_s() is not None:
                    return account
                account.close()
        return None

    def preexec(self) -> None:
        """For subprocess's preexec_fn: the child joins the group before it execs."""
        _write(os.path.join(self.path, "cgroup.procs"), str(os.getpid()))

    def usage_s(self) -> float | None:
        return _usage_s(self.path, self.version)

    def close(self) -> None:
        """Remove the group (its processes, if any are left, go back to the root first)."""
        try:
            with open(os.path.join(self.path, "cgroup.procs"), encoding="ascii") as fh:
                for pid in (line.strip() for line in fh):
                    try:
                        _write(os.path.join(os.path.dirname(self.path), "cgroup.procs"), pid)
                    except OSError:
                        pass
            os.rmdir(self.path)
        except OSError:
            pass
