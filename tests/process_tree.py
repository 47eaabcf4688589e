"""What a server's process tree leaves behind, for the tests of "nothing a server starts outlives
it" (tests/python/test_process_tree.py, the short form in `make test`; tests/reliability/test_kill.py,
the full one): the processes of a tree, who listens on a port, whether anything answers there."""

from __future__ import annotations

import socket
import time

import psutil


def tree(pid: int) -> dict[int, psutil.Process]:
    """pid → process, for a process and all its descendants alive now (empty when it is gone)."""
    try:
        root = psutil.Process(pid)
        return {p.pid: p for p in (root, *root.children(recursive=True))}
    except psutil.Error:
        return {}


def alive(procs) -> list[psutil.Process]:
    """Those of `procs` (psutil.Process, from an earlier look) still running (not zombies)."""
    out = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except psutil.Error:
            pass
    return out


def listeners(port: int) -> set[int]:
    """The pids with a socket listening on TCP `port` (any address)."""
    return {
        c.pid
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
    }


def unsupervised(root: int, ports) -> dict[int, list[int]]:
    """port → pids listening on it that are not in `root`'s tree (only ports that have any)."""
    members = set(tree(root))
    out = {}
    for port in ports:
        strays = sorted(listeners(port) - members)
        if strays:
            out[port] = strays
    return out


def answers(address: str, timeout_s: float = 1.0) -> bool:
    """Whether anything accepts a TCP connection at host:port."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return True
    except OSError:
        return False


def port(address: str) -> int:
    return int(address.rpartition(":")[2])


def describe(procs) -> str:
    parts = []
    for proc in procs:
        try:
            parts.append("%d (%s)" % (proc.pid, " ".join(proc.cmdline()[-2:])))
        except psutil.Error:
            parts.append(str(proc.pid))
    return ", ".join(parts) or "none"


def wait_for(predicate, timeout_s: float, interval_s: float = 0.05):
    """Poll `predicate` until it returns a true value (returned) or the timeout passes (its last value)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval_s)
