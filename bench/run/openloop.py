"""Open-loop load at a fixed offered rate: requests sent on schedule whether or not earlier ones
were answered, each latency measured from when the request was due. HTTP: vegeta (constant pacer;
its per-request seq and send time give the due time). gRPC: the bench's own generator
(go_service/cmd/openloop, grpc-go, writes due/sent/end per call) by default, or ghz --rps --async
(latency from send) — chosen by measurement, see bench/README.md ("Capacity").

`run(...)` runs one timed period (after a discarded warm-up at the same rate) and returns the parsed
outcome, the generator's CPU and the raw output path (kept gzipped, like every closed-loop run).
`knobs` is the settings' capacity section: which gRPC generator, and each generator's workers and
connections.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from dataclasses import dataclass

from bench.analysis import parse
from bench.run import loadgen
from bench.run.loadgen import V2_INFER_CALL, V2_PROTO, LoadError, Tools
from bench.run.procs import Supervisor, Usage
from bench.settings import CapacitySettings


@dataclass
class Target:
    """What one open-loop run sends: an endpoint, a protocol and a request body."""

    protocol: str  # "http-json", "http-protobuf", "grpc", "v2-http", "v2-grpc" or "null-http" (GET, the seed's toys)
    address: str
    body: str | None  # JSON or binary PredictRequest file (None: GET); V2: the server's own request file
    path: str = "/v1/predict"  # HTTP
    method: str = "Predict"  # gRPC: Predict, or ModelInfer (V2)

    @property
    def grpc(self) -> bool:
        return self.protocol in ("grpc", "v2-grpc")


def generator(target: Target, knobs: CapacitySettings) -> str:
    """The tool that drives the target: vegeta, openloop or ghz."""
    if target.grpc:
        return knobs.grpc_generator
    return "vegeta"


def raw_name(stem: str, target: Target, knobs: CapacitySettings) -> str:
    """A raw output's file name: the stem, the tool and its format (vegeta and openloop: CSV)."""
    tool = generator(target, knobs)
    return f"{stem}.{tool}.{'json' if tool == 'ghz' else 'csv'}"


def vegeta_targets(target: Target, directory: str) -> str:
    """A vegeta targets file (http format) for the target; its path."""
    path = os.path.join(directory, f"targets-{target.protocol}-{target.address.replace(':', '_')}.txt")
    url = f"http://{target.address}{target.path}"
    return loadgen.vegeta_targets(path, url, target.body, target.protocol == "http-protobuf")


def vegeta_argv(
    tools: Tools, targets: str, rate: float, duration_s: float, timeout_s: float, knobs: CapacitySettings, output: str
) -> list[str]:
    return [
        tools.vegeta,
        "attack",
        f"-rate={max(1, round(rate * 10))}/10s",
        f"-duration={duration_s:g}s",
        f"-targets={targets}",
        f"-timeout={timeout_s:g}s",
        f"-workers={knobs.vegeta_workers}",
        f"-max-workers={knobs.vegeta_max_workers}",
        "-http2=false",
        f"-output={output}",
    ]


def ghz_argv(
    tools: Tools, target: Target, rate: float, duration_s: float, timeout_s: float, knobs: CapacitySettings, n_cpus: int
) -> list[str]:
    return loadgen.ghz_argv(
        tools,
        target.address,
        concurrency=knobs.ghz_concurrency,
        n_cpus=n_cpus,
        timeout_s=timeout_s,
        duration_s=duration_s,
        body=target.body,
        connections=knobs.ghz_connections,
        rps=rate,
        send_async=knobs.ghz_async,
        call=V2_INFER_CALL if target.method == "ModelInfer" else None,
        proto=os.path.join(tools.proto_root, V2_PROTO) if target.method == "ModelInfer" else None,
    )


def openloop_argv(
    tools: Tools, target: Target, rate: float, duration_s: float, timeout_s: float, knobs: CapacitySettings, output: str
) -> list[str]:
    return [
        tools.openloop, "-addr", target.address, "-body", target.body, "-rate", f"{rate:g}",
        "-duration", f"{duration_s:g}s", "-timeout", f"{timeout_s:g}s", "-conns", str(knobs.openloop_conns),
        "-method", target.method, "-out", output,
    ]  # fmt: skip


def run(
    sup: Supervisor,
    tools: Tools,
    target: Target,
    rate: float,
    duration_s: float,
    knobs: CapacitySettings,
    timeout_s: float,
    cpus: list[int],
    raw_path: str | None,
) -> tuple[parse.OpenLoopRun, Usage, list[str]]:
    """One open-loop period: (outcome, the generator's CPU usage, its command line). The raw
    output is kept gzipped at raw_path + ".gz" (dropped when raw_path is None)."""
    workdir = os.path.dirname(raw_path) if raw_path else "/tmp"
    out = (raw_path or os.path.join(workdir, f"openloop-{os.getpid()}.tmp")) + ".out"
    if target.grpc and knobs.grpc_generator == "openloop":
        argv = openloop_argv(tools, target, rate, duration_s, timeout_s, knobs, out)
        with open(out + ".err", "wb") as err:
            usage = sup.run_measured(argv, cpus, stdout=subprocess.DEVNULL, stderr=err)
        result = parse.parse_openloop_csv(_read(out)) if usage.returncode == 0 else None
        why = _read(out + ".err").strip()
        os.remove(out + ".err")
        if result is None:
            raise LoadError(f"{argv[0]} failed (status {usage.returncode}): {why[-300:]}; command: {' '.join(argv)}")
    elif target.grpc:
        argv = ghz_argv(tools, target, rate, duration_s, timeout_s, knobs, len(cpus))
        with open(out, "wb") as fh:
            usage = sup.run_measured(argv, cpus, stdout=fh, stderr=subprocess.DEVNULL)
        text = _read(out)
        result = _ghz_as_open_loop(parse.parse_ghz_json(text)) if usage.returncode == 0 else None
    else:
        targets = vegeta_targets(target, workdir)
        argv = vegeta_argv(tools, targets, rate, duration_s, timeout_s, knobs, out)
        usage = sup.run_measured(argv, cpus, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        encoded = subprocess.run([tools.vegeta, "encode", "--to", "csv", out], capture_output=True, check=False)
        with open(out, "wb") as fh:
            fh.write(encoded.stdout)
        text = encoded.stdout.decode("utf-8", errors="replace")
        result = parse.parse_vegeta_csv(text, rate) if usage.returncode == 0 and encoded.returncode == 0 else None
    if result is None:
        raise LoadError(f"{argv[0]} failed (status {usage.returncode}); command: {' '.join(argv)}")
    if raw_path:
        with open(out, "rb") as src, gzip.open(raw_path + ".gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    os.remove(out)
    return result, usage, argv


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read()


def _ghz_as_open_loop(run: parse.ToolRun) -> parse.OpenLoopRun:
    return parse.OpenLoopRun(
        ok=run.ok,
        errors=run.errors,
        sent=run.requests,
        elapsed_s=run.elapsed_s,
        latencies_ms=run.latencies_ms,
        error_kinds=run.error_kinds,
    )
