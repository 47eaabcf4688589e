"""Servers the bench measures but did not start: `--target NAME=PROTO://HOST:PORT` (repeatable).

PROTO is a protocol the bench drives (http-json, http-protobuf, grpc — unary —, grpc-stream; v2-http
and v2-grpc, the Open Inference Protocol, at any V2 server: bench.run.v2load),
"http" (every HTTP protocol at that address), or "metrics": where the server's /metrics is, when
not on its HTTP address. A target is measured like a server the bench
started: its CPU from process_cpu_seconds_total and its memory from process_resident_memory_bytes
on /metrics (both servers sum their whole process tree there), read before and after each timed
run, so a server on another host, a VM or a Kubernetes pod needs no pid. (--server-pid NAME=PID
still measures a local one from its process tree instead.)

A protocol the bench learns to drive is one row of PROTOCOLS: the transport its address is on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# protocol → the listener it is served on.
PROTOCOLS = {
    "http-json": "http",
    "http-protobuf": "http",
    "grpc": "grpc",
    "grpc-stream": "grpc",
    "v2-http": "http",
    "v2-grpc": "grpc",
}
TRANSPORTS = ("http",)  # a whole listener: every protocol on it ("grpc" is the unary protocol)
METRICS = "metrics"
_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):\d{1,5}$")


class TargetError(ValueError):
    """A --target that cannot be read."""


@dataclass(frozen=True)
class Target:
    name: str
    proto: str  # a protocol of PROTOCOLS, "http" (all of them on HTTP), or METRICS
    address: str  # HOST:PORT

    @property
    def transport(self) -> str:
        """The listener this target names: "http", "grpc" or "metrics"."""
        return PROTOCOLS.get(self.proto, self.proto)

    @property
    def protocols(self) -> tuple[str, ...]:
        """The protocols the bench drives at this address."""
        if self.proto in PROTOCOLS:
            return (self.proto,)
        return tuple(p for p, t in PROTOCOLS.items() if t == self.proto)


def parse(text: str) -> Target:
    """NAME=PROTO://HOST:PORT."""
    name, _, url = text.partition("=")
    proto, sep, address = url.partition("://")
    known = (*PROTOCOLS, *TRANSPORTS, METRICS)
    if not name or not sep or proto not in known or not _ADDRESS.match(address):
        raise TargetError(f"--target {text!r}: expected NAME=PROTO://HOST:PORT with PROTO one of {', '.join(known)}")
    return Target(name, proto, address)


@dataclass
class TargetServer:
    """What the bench knows of one named target: an address per transport, the protocols it drives."""

    endpoints: dict[str, str]  # "http" | "grpc" | "metrics" → HOST:PORT
    protocols: set[str]


def group(targets: list[Target]) -> dict[str, TargetServer]:
    """name → its endpoints and protocols; /metrics on the HTTP address unless given. Two addresses
    for one name and listener are refused."""
    out: dict[str, TargetServer] = {}
    for t in targets:
        server = out.setdefault(t.name, TargetServer({}, set()))
        if server.endpoints.get(t.transport, t.address) != t.address:
            raise TargetError(f"--target {t.name}: two addresses for its {t.transport} listener")
        server.endpoints[t.transport] = t.address
        server.protocols.update(t.protocols)
    for server in out.values():
        if METRICS not in server.endpoints and "http" in server.endpoints:
            server.endpoints[METRICS] = server.endpoints["http"]
    return out
