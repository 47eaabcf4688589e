"""The network stage's load: the ways into a server it compares (protocol × HTTP version × TLS),
and the load generators that drive them — closed loop (N requests in flight) and open loop (a fixed
offered rate) — run on the profile's side of the emulated link (bench.run.netem).

Why these tools (bench/README.md, "Across a network"): vegeta for HTTP, closed loop with
`-rate=0 -max-workers=N` and open loop with `-rate=R`, because it verifies the server against the
run's CA (`-root-certs`), chooses HTTP/1.1 or HTTP/2 by flag, can open a new connection per request
(`-keepalive=false`, full handshakes: no session tickets), and writes nanoseconds (hey writes
0.1 ms, coarser than the LAN profile's whole round trip, and never verifies a certificate). ghz
for gRPC closed loop (`--cacert`), openloop for gRPC open loop (`-cacert`).

Connections: vegeta over HTTP/1.1 opens one per request in flight (10 for 10; open loop: as many
as the requests outstanding), over HTTP/2 one for all (`-max-connections=1`: left alone, Go's
client dials one for each request that starts before the first connection is up); ghz and
openloop one (`--connections 1`, `-conns 1`), carrying every stream. The proxy counts what each
really opened (NetRun.connections).
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from dataclasses import dataclass

from bench.analysis import parse
from bench.run import loadgen
from bench.run.loadgen import LoadError, Tools
from bench.run.procs import Supervisor, Usage


@dataclass(frozen=True)
class Way:
    """One way into a server: a protocol of the bench, over HTTP/1.1 or HTTP/2, with or without TLS."""

    name: str
    protocol: str  # http-json, http-protobuf, grpc, grpc-stream
    http: str  # "1.1" or "2"
    tls: bool

    @property
    def transport(self) -> str:
        return self.protocol.split("-")[0]


def _ways() -> dict[str, Way]:
    out = {}
    for tls in (False, True):
        suffix = "-tls" if tls else ""
        for encoding in ("json", "protobuf"):
            out[f"h1-{encoding}{suffix}"] = Way(f"h1-{encoding}{suffix}", f"http-{encoding}", "1.1", tls)
            if tls:  # HTTP/2 by ALPN: over TLS only (as browsers and Go's client speak it)
                out[f"h2-{encoding}{suffix}"] = Way(f"h2-{encoding}{suffix}", f"http-{encoding}", "2", tls)
        for protocol in ("grpc", "grpc-stream"):
            out[f"{protocol}{suffix}"] = Way(f"{protocol}{suffix}", protocol, "2", tls)
    return out


WAYS = _ways()


@dataclass
class Outcome:
    """One load run, parsed: latencies (sorted, ms; open loop: from when each request was due),
    the answer count, the generator's CPU, the mean body bytes it counted (HTTP)."""

    tool: str
    ok: int
    errors: int
    error_kinds: dict[str, int]
    elapsed_s: float
    latencies_ms: list[float]
    usage: Usage
    argv: list[str]
    body_out: float | None = None
    body_in: float | None = None


@dataclass(frozen=True)
class Request:
    """What a run sends: the body files of one model and batch, and the CA to verify the server with."""

    json_body: str
    protobuf_body: str
    ca: str | None
    timeout_s: float
    stream_messages: int


def _vegeta_targets(way: Way, address: str, req: Request, path: str) -> str:
    scheme = "https" if way.tls else "http"
    protobuf = way.protocol == "http-protobuf"
    body = req.protobuf_body if protobuf else req.json_body
    return loadgen.vegeta_targets(path, f"{scheme}://{address}/v1/predict", body, protobuf)


def vegeta_argv(
    tools: Tools,
    way: Way,
    targets: str,
    output: str,
    duration_s: float,
    req: Request,
    *,
    conc=None,
    rate=None,
    keepalive=True,
) -> list[str]:
    """vegeta attack: closed loop at `conc` in flight (-rate=0), or open loop at `rate`."""
    argv = [tools.vegeta, "attack", f"-targets={targets}", f"-output={output}", f"-duration={duration_s:g}s"]
    argv += [f"-timeout={req.timeout_s:g}s", f"-http2={'true' if way.http == '2' else 'false'}"]
    argv += [f"-keepalive={'true' if keepalive else 'false'}"]
    if way.http == "2":  # one connection carrying every stream (Go's client would dial one per first request)
        argv.append("-max-connections=1")
    if conc is not None:
        argv += ["-rate=0", f"-workers={conc}", f"-max-workers={conc}"]
    else:
        argv += [f"-rate={max(1, round(rate * 10))}/10s", "-workers=10", "-max-workers=1000"]
    if way.tls:
        argv.append(f"-root-certs={req.ca}")
    return argv


def ghz_argv(
    tools: Tools, way: Way, address: str, duration_s: float, conc: int, n_cpus: int, req: Request
) -> list[str]:
    """ghz at `conc` calls (or streams) in flight over one connection; over TLS verified with the CA."""
    argv = loadgen.ghz_argv(
        tools,
        address,
        concurrency=conc,
        n_cpus=n_cpus,
        timeout_s=int(req.timeout_s),
        duration_s=duration_s,
        body=req.json_body,
        connections=1,
        stream_messages=req.stream_messages if way.protocol == "grpc-stream" else None,
    )
    if way.tls:
        argv[argv.index("--insecure")] = "--cacert"
        argv.insert(argv.index("--cacert") + 1, req.ca)
    return argv


def openloop_argv(tools: Tools, address: str, rate: float, duration_s: float, req: Request, output: str, tls: bool):
    argv = [
        tools.openloop,
        "-addr",
        address,
        "-body",
        req.json_body,
        "-rate",
        f"{rate:g}",
        "-duration",
        f"{duration_s:g}s",
    ]
    argv += ["-timeout", f"{req.timeout_s:g}s", "-conns", "1", "-out", output]
    return argv + (["-cacert", req.ca] if tls else [])


def null_run(
    sup: Supervisor, tools: Tools, address: str, *, prefix: list[str], cpus: list[int], duration_s: float
) -> Outcome:
    """The null server (the seed's Go toy: constant text on GET /predict) at one request in flight
    over plain HTTP/1.1, kept alive: what a profile adds to the round trip and nothing else."""
    out = f"/tmp/netload-null-{os.getpid()}"
    with open(out + ".targets", "w", encoding="utf-8") as fh:
        fh.write(f"GET http://{address}/predict\n")
    argv = [tools.vegeta, "attack", f"-targets={out}.targets", f"-output={out}.bin", f"-duration={duration_s:g}s"]
    argv += ["-rate=0", "-workers=1", "-max-workers=1", "-http2=false", "-timeout=10s"]
    try:
        usage = sup.run_measured([*prefix, *argv], cpus, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        encoded = subprocess.run(
            [tools.vegeta, "encode", "--to", "csv", out + ".bin"], capture_output=True, check=False
        )
    finally:
        for suffix in (".targets", ".bin"):
            if os.path.exists(out + suffix):
                os.remove(out + suffix)
    if usage.returncode != 0 or encoded.returncode != 0:
        raise LoadError(f"vegeta against the null server failed (status {usage.returncode}): {' '.join(argv)}")
    return _parse("vegeta", encoded.stdout.decode("utf-8", errors="replace"), None, usage, argv)


def run(
    sup: Supervisor,
    tools: Tools,
    way: Way,
    address: str,
    req: Request,
    *,
    prefix: list[str],
    cpus: list[int],
    duration_s: float,
    raw_path: str | None,
    conc: int | None = None,
    rate: float | None = None,
    keepalive: bool = True,
) -> Outcome:
    """One run against `address` from the load generator's side (`prefix`: `ip netns exec NS`):
    closed loop at `conc`, or open loop at `rate`. The raw output is kept gzipped at raw_path + .gz
    (dropped when raw_path is None)."""
    workdir = os.path.dirname(raw_path) if raw_path else "/tmp"
    out = (raw_path or os.path.join(workdir, f"netload-{os.getpid()}")) + ".out"
    err_path = out + ".err"
    if way.transport == "http":
        targets = _vegeta_targets(way, address, req, out + ".targets")
        argv = vegeta_argv(
            tools, way, targets, out + ".bin", duration_s, req, conc=conc, rate=rate, keepalive=keepalive
        )
        tool = "vegeta"
    elif conc is not None:
        argv, tool = ghz_argv(tools, way, address, duration_s, conc, len(cpus), req), "ghz"
    else:
        argv, tool = openloop_argv(tools, address, rate, duration_s, req, out, way.tls), "openloop"
    with open(out if tool == "ghz" else os.devnull, "wb") as stdout, open(err_path, "wb") as stderr:
        usage = sup.run_measured([*prefix, *argv], cpus, stdout=stdout, stderr=stderr)
    with open(err_path, encoding="utf-8", errors="replace") as fh:
        why = fh.read().strip()
    os.remove(err_path)
    if usage.returncode != 0:
        raise LoadError(f"{tool} exited with status {usage.returncode}: {why[-600:]}\n  command: {' '.join(argv)}")
    if tool == "vegeta":
        encoded = subprocess.run(
            [tools.vegeta, "encode", "--to", "csv", out + ".bin"], capture_output=True, check=False
        )
        with open(out, "wb") as fh:
            fh.write(encoded.stdout)
        os.remove(out + ".bin")
        os.remove(targets)
    with open(out, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    outcome = _parse(tool, text, rate, usage, argv)
    if raw_path:
        with open(out, "rb") as src, gzip.open(raw_path + ".gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    os.remove(out)
    return outcome


def _parse(tool: str, text: str, rate: float | None, usage: Usage, argv: list[str]) -> Outcome:
    try:
        if tool == "vegeta" and rate is None:
            closed = parse.parse_vegeta_closed_csv(text)
            r, body_out, body_in = closed.run, closed.body_out, closed.body_in
        elif tool == "vegeta":
            r, body_out, body_in = parse.parse_vegeta_csv(text, rate), None, None
        elif tool == "ghz":
            r, body_out, body_in = parse.parse_ghz_json(text), None, None
        else:
            r, body_out, body_in = parse.parse_openloop_csv(text), None, None
    except parse.ParseError as exc:
        raise LoadError(f"{tool}: {exc}") from None
    return Outcome(tool, r.ok, r.errors, r.error_kinds, r.elapsed_s, r.latencies_ms, usage, argv, body_out, body_in)
