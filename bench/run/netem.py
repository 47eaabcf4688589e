"""The network between the load generator and the servers: a network namespace for the load
generators, joined to the host by a veth pair whose two ends carry each profile's qdiscs, and —
where the kernel has no netem — the bench's delaying proxy (bench/netproxy) on the host end.

- netem mode (the kernel has sch_netem): `netem delay RTT/2 [rate R]` on both veth ends; the
  load generators in the namespace dial the servers directly.
- proxy mode (no netem, as on this project's machines): bandwidth from `tbf` on both veth ends,
  the round trip from netproxy, one route per (profile, upstream), its one-way delay calibrated
  per profile (bench.run.network) and changed at run time over its control endpoint.

The loopback profile is no emulation at all: the load generator in the host's namespace, the
server on the same host. Everything needs root (namespaces, veth, tc); `Unavailable` says why
when it cannot be had, and the stage skips itself.

Nothing outlives the run: leaving the `with` block removes the namespace (the veth pair and its
qdiscs go with it) and stops the proxy; a bench killed outright is covered by a guard process
(bench.run.netns_guard, killed with its parent by a parent-death signal, removing the namespace
as it goes) and the proxy's own parent-death signal; and every run first removes what a dead run
(its pid in the name) left.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass

import psutil

from bench.run.procs import Supervisor

NS_PREFIX, HOST_PREFIX, CLIENT_PREFIX = "sbnet-", "sbh", "sbc"
SUBNET = "10.231"
ROUTE_LINE = re.compile(r"netproxy: (route (\S+)|control) listening on (\S+:\d+)")
LOOPBACK = "loopback"


class Unavailable(RuntimeError):
    """The namespace, veth or tc cannot be had here (not root, no iproute2, a kernel without them)."""


@dataclass(frozen=True)
class Profile:
    name: str
    rtt_ms: float
    bandwidth_mbit: float  # each way; 0: unlimited

    @property
    def emulated(self) -> bool:
        return self.name != LOOPBACK


def _run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise Unavailable(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")
    return done


def _alive(pid: int) -> bool:
    return psutil.pid_exists(pid)


def sweep_stale() -> list[str]:
    """Remove the namespaces and host veth ends of bench runs that are no longer alive (their pid is
    in the name); the names removed."""
    removed = []
    if not shutil.which("ip"):
        return removed
    for line in _run(["ip", "netns", "list"], check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(NS_PREFIX) and name[len(NS_PREFIX) :].isdigit() and not _alive(int(name[len(NS_PREFIX) :])):
            _run(["ip", "netns", "del", name], check=False)
            removed.append(name)
    for name in os.listdir("/sys/class/net"):
        if (
            name.startswith(HOST_PREFIX)
            and name[len(HOST_PREFIX) :].isdigit()
            and not _alive(int(name[len(HOST_PREFIX) :]))
        ):
            _run(["ip", "link", "del", name], check=False)
            removed.append(name)
    return removed


def leftovers(pid: int | None = None) -> list[str]:
    """The bench's namespaces and host veth ends present now (those of the run `pid`, when given)."""

    def ours(name: str, prefix: str) -> bool:
        tag = name[len(prefix) :]
        return name.startswith(prefix) and tag.isdigit() and (pid is None or tag == str(pid))

    spaces = [
        line.split()[0] for line in _run(["ip", "netns", "list"], check=False).stdout.splitlines() if line.split()
    ]
    return [n for n in spaces if ours(n, NS_PREFIX)] + [n for n in os.listdir("/sys/class/net") if ours(n, HOST_PREFIX)]


class Emulator:
    """The namespace, its veth pair and (proxy mode) the proxy, for one stage of one run."""

    def __init__(self, sup: Supervisor, proxy_bin: str, client_cpus: list[int], log_dir: str):
        self.sup, self.proxy_bin, self.client_cpus, self.log_dir = sup, proxy_bin, client_cpus, log_dir
        pid = os.getpid()
        self.ns, self.host_if, self.client_if = f"{NS_PREFIX}{pid}", f"{HOST_PREFIX}{pid}", f"{CLIENT_PREFIX}{pid}"
        self.host_ip = self.client_ip = ""
        self.mode = ""  # "netem" or "proxy"
        self.swept: list[str] = []
        self._proxy = None
        self._control = ""
        self.routes: dict[str, str] = {}  # route name → the address it listens on
        self._guard = None

    # --- set-up and tear-down ------------------------------------------------------------------
    def __enter__(self) -> Emulator:
        if os.geteuid() != 0:
            raise Unavailable("needs root (network namespaces, veth, tc)")
        for tool in ("ip", "tc"):
            if not shutil.which(tool):
                raise Unavailable(f"{tool} (iproute2) is not installed")
        self.swept = sweep_stale()
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _create(self) -> None:
        prefix = self._free_subnet()
        self.host_ip, self.client_ip = prefix + "1", prefix + "2"
        _run(["ip", "netns", "add", self.ns])
        self._guard = self.sup.spawn(
            [sys.executable, "-m", "bench.run.netns_guard", self.ns, self.host_if], None, cwd=_REPO
        )
        _run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.client_if])
        _run(["ip", "link", "set", self.client_if, "netns", self.ns])
        _run(["ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if])
        _run(["ip", "link", "set", self.host_if, "up"])
        _run(["ip", "-n", self.ns, "addr", "add", f"{self.client_ip}/30", "dev", self.client_if])
        _run(["ip", "-n", self.ns, "link", "set", self.client_if, "up"])
        _run(["ip", "-n", self.ns, "link", "set", "lo", "up"])
        probe = _run(["tc", "qdisc", "add", "dev", self.host_if, "root", "netem", "delay", "1ms"], check=False)
        self.mode = "netem" if probe.returncode == 0 else "proxy"
        self._clear_qdiscs()

    def _free_subnet(self) -> str:
        """A /30 of SUBNET that no interface here uses (another run's link included)."""
        used = _run(["ip", "-o", "-4", "addr", "show"], check=False).stdout
        start = os.getpid() % 256
        for k in (start + i for i in range(256)):
            prefix = f"{SUBNET}.{k % 256}."
            if f" {prefix}" not in used:
                return prefix
        raise Unavailable(f"no free /30 left in {SUBNET}.0.0/16")

    def close(self) -> None:
        if self._proxy is not None:
            self.sup.stop(self._proxy)
            self._proxy = None
        _run(["ip", "netns", "del", self.ns], check=False)
        if os.path.exists(f"/sys/class/net/{self.host_if}"):
            _run(["ip", "link", "del", self.host_if], check=False)
        if self._guard is not None:
            self.sup.stop(self._guard)
            self._guard = None

    # --- profiles --------------------------------------------------------------------------------
    def _clear_qdiscs(self) -> None:
        _run(["tc", "qdisc", "del", "dev", self.host_if, "root"], check=False)
        _run(["ip", "netns", "exec", self.ns, "tc", "qdisc", "del", "dev", self.client_if, "root"], check=False)

    def apply(self, profile: Profile) -> None:
        """The qdiscs of a profile on both ends of the link (none for what the proxy emulates)."""
        self._clear_qdiscs()
        if not profile.emulated:
            return
        if self.mode == "netem":
            spec = ["netem", "delay", f"{profile.rtt_ms * 500:.0f}us", "limit", "100000"]
            if profile.bandwidth_mbit:
                spec += ["rate", f"{profile.bandwidth_mbit:g}mbit"]
        elif profile.bandwidth_mbit:
            bdp = profile.bandwidth_mbit * 1e6 / 8 * max(profile.rtt_ms, 1.0) / 1e3
            spec = [
                "tbf",
                "rate",
                f"{profile.bandwidth_mbit:g}mbit",
                "burst",
                "32kb",
                "limit",
                str(int(max(2**18, 2 * bdp))),
            ]
        else:
            return
        _run(["tc", "qdisc", "replace", "dev", self.host_if, "root", *spec])
        _run(["ip", "netns", "exec", self.ns, "tc", "qdisc", "replace", "dev", self.client_if, "root", *spec])

    def client_prefix(self, profile: Profile) -> list[str]:
        """What a load generator's command line starts with to run on the profile's side of the link."""
        return ["ip", "netns", "exec", self.ns] if profile.emulated else []

    # --- the proxy (proxy mode) ------------------------------------------------------------------
    def start_proxy(self, profiles: list[Profile], upstreams: dict[str, str], timeout_s: float = 20.0) -> None:
        """netproxy with a route per emulated profile and upstream (name → HOST:PORT), each at half
        its profile's round trip until calibrated."""
        if self.mode != "proxy":
            return
        argv = [self.proxy_bin, "-control", "127.0.0.1:0"]
        for p in profiles:
            if p.emulated:
                for name, address in upstreams.items():
                    argv += ["-route", f"{route_name(p, name)}={self.host_ip}:0,{address},{p.rtt_ms * 500:.0f}us"]
        log = os.path.join(self.log_dir, "netproxy.log")
        with open(log, "wb") as fh:
            self._proxy = self.sup.spawn(argv, self.client_cpus, stdout=fh, stderr=fh)
        deadline = time.monotonic() + timeout_s
        while not self._control:
            with open(log, encoding="utf-8", errors="replace") as fh:
                for what, route, address in ((m[0], m[1], m[2]) for m in ROUTE_LINE.findall(fh.read())):
                    if route:
                        self.routes[route] = address
                    elif what == "control":
                        self._control = address
            if self._proxy.poll() is not None or time.monotonic() > deadline:
                raise Unavailable(f"netproxy did not start (see {log})")
            time.sleep(0.02)

    def address(self, profile: Profile, upstream: str, direct: str) -> str:
        """Where a load generator on the profile's side dials to reach `upstream` (at `direct`)."""
        if profile.emulated and self.mode == "proxy":
            return self.routes[route_name(profile, upstream)]
        return direct

    def set_delay(self, profile: Profile, one_way_us: float) -> None:
        """Every route of the profile to this one-way delay (proxy mode)."""
        names = [r for r in self.routes if r.startswith(profile.name + "~")]
        data = urllib.parse.urlencode({"routes": ",".join(names), "delay": f"{max(0.0, one_way_us):.0f}us"}).encode()
        with urllib.request.urlopen(f"http://{self._control}/delay", data=data, timeout=5):
            pass

    def proxy_stats(self) -> dict[str, dict]:
        """Per route: conns, up_bytes, down_bytes, late_mean_us, late_max_us (proxy mode; {} else)."""
        if not self._control:
            return {}
        with urllib.request.urlopen(f"http://{self._control}/stats", timeout=5) as resp:
            return json.load(resp)["routes"]

    def proxy_cpu_s(self) -> float | None:
        if self._proxy is None:
            return None
        try:
            t = psutil.Process(self._proxy.pid).cpu_times()
        except psutil.Error:
            return None
        return t.user + t.system

    def link_bytes(self) -> tuple[int, int]:
        """Bytes that crossed the link so far, (up: into the host end, down: out of it), frames' headers
        included (what a NIC would count)."""

        def read(name):
            with open(f"/sys/class/net/{self.host_if}/statistics/{name}", encoding="ascii") as fh:
                return int(fh.read())

        return read("rx_bytes"), read("tx_bytes")


def route_name(profile: Profile, upstream: str) -> str:
    return f"{profile.name}~{upstream}"


_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
