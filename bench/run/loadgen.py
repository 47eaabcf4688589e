"""Load generators: hey for HTTP, ghz for gRPC. Command lines, a measured run, the raw output kept.

Each run's stdout (hey CSV / ghz JSON) is written to raw/, parsed by bench.parse, then gzipped in
place so that every figure of the report can be traced back to it. The tool's own CPU time comes
from wait4's rusage of its process.
"""

from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass

from bench.analysis import parse
from bench.run.procs import Supervisor, Usage

PREDICT_CALL = "predict.v1.PredictionService.Predict"
V2_INFER_CALL = "inference.GRPCInferenceService.ModelInfer"  # the Open Inference Protocol's (bench.run.v2load)
V2_PROTO = os.path.join("inference", "open_inference_grpc.proto")  # under Tools.proto_root


class LoadError(RuntimeError):
    """The load generator failed (non-zero exit, unreadable output)."""


@dataclass
class Tools:
    hey: str
    ghz: str
    proto: str  # proto/predict/v1/predict.proto
    proto_root: str  # proto/
    vegeta: str = ""  # open-loop HTTP (capacity sweeps)
    openloop: str = ""  # open-loop gRPC (capacity sweeps): go_service/bin/openloop

    @classmethod
    def installed(cls, repo: str, tools_dir: str, go_bin_dir: str) -> Tools:
        """What `make tools build` installs: hey, ghz and vegeta in tools_dir, openloop beside the Go server."""
        return cls(
            hey=os.path.join(tools_dir, "hey"),
            ghz=os.path.join(tools_dir, "ghz"),
            proto=os.path.join(repo, "proto", "predict", "v1", "predict.proto"),
            proto_root=os.path.join(repo, "proto"),
            vegeta=os.path.join(tools_dir, "vegeta"),
            openloop=os.path.join(go_bin_dir, "openloop"),
        )


def _go_duration(seconds: float) -> str:
    return f"{seconds:g}s"


JSON, PROTOBUF = "application/json", "application/x-protobuf"


def vegeta_targets(path: str, url: str, body: str | None, protobuf: bool) -> str:
    """Write a vegeta targets file (http format) at path: a GET of url without a body, else a POST
    of the body file as JSON, or as a binary PredictRequest asking for a binary answer; its path."""
    with open(path, "w", encoding="utf-8") as fh:
        if body is None:
            fh.write(f"GET {url}\n")
            return path
        fh.write(f"POST {url}\nContent-Type: {PROTOBUF if protobuf else JSON}\n")
        if protobuf:
            fh.write(f"Accept: {PROTOBUF}\n")
        fh.write(f"@{body}\n")
    return path


PREDICT_STREAM_CALL = "predict.v1.PredictionService.PredictStream"


def hey_argv(
    hey: str,
    url: str,
    *,
    concurrency: int,
    n_cpus: int,
    timeout_s: int,
    duration_s: float | None = None,
    requests: int | None = None,
    body: str | None = None,
    protobuf: bool = False,
) -> list[str]:
    """hey with CSV output; a POST of the body file when given (JSON, or a binary PredictRequest
    asking for a binary answer), else the post's plain GET."""
    argv = [hey, "-c", str(concurrency), "-cpus", str(n_cpus), "-t", str(timeout_s), "-o", "csv"]
    argv += ["-z", _go_duration(duration_s)] if duration_s is not None else ["-n", str(requests)]
    if body is not None:
        argv += ["-m", "POST", "-T", PROTOBUF if protobuf else JSON, "-D", body]
        if protobuf:
            argv += ["-H", "Accept: " + PROTOBUF]
    return [*argv, url]


def ghz_argv(
    tools: Tools,
    address: str,
    *,
    concurrency: int,
    n_cpus: int,
    timeout_s: int,
    duration_s: float,
    body: str,
    connections: int,
    stream_messages: int | None = None,
    rps: float | None = None,
    send_async: bool = False,
    call: str | None = None,
    proto: str | None = None,
) -> list[str]:
    """ghz calling Predict (or, with stream_messages, PredictStream with that many messages per
    stream; or `call`, a method of the .proto file `proto`) with the body file, over plaintext, JSON
    report with per-call details; with `rps`, at that rate (open loop with `send_async`: ghz --async
    sends on schedule without waiting)."""
    call = call or (PREDICT_CALL if stream_messages is None else PREDICT_STREAM_CALL)
    argv = [
        tools.ghz,
        "--insecure",
        "--proto",
        proto or tools.proto,
        "--import-paths",
        tools.proto_root,
        "--call",
        call,
        "--data-file",
        body,
        "--concurrency",
        str(concurrency),
        "--connections",
        str(connections),
        "--cpus",
        str(n_cpus),
        "--timeout",
        _go_duration(timeout_s),
        "--duration",
        _go_duration(duration_s),
        "--duration-stop",
        "wait",
        "--format",
        "json",
    ]
    if stream_messages is not None:
        argv += ["--stream-call-count", str(stream_messages)]
    if rps is not None:
        argv += ["--rps", str(max(1, round(rps)))]
    if send_async:
        argv.append("--async")
    return [*argv, address]


PARSERS = {"hey": parse.parse_hey_csv, "ghz": parse.parse_ghz_json}


def measure(
    sup: Supervisor, tool: str, argv: list[str], cpus: list[int], raw_path: str, keep: bool = True
) -> tuple[parse.ToolRun, Usage]:
    """Run the tool pinned to `cpus`, parse its stdout; keep it gzipped at raw_path + '.gz' (or drop it)."""
    err_path = raw_path + ".stderr"
    with open(raw_path, "wb") as out, open(err_path, "wb") as err:
        usage = sup.run_measured(argv, cpus, stdout=out, stderr=err)
    with open(err_path, encoding="utf-8", errors="replace") as fh:
        stderr = fh.read().strip()
    if usage.returncode != 0:
        raise LoadError(f"{tool} exited with status {usage.returncode}: {stderr[-800:]}\n  command: {' '.join(argv)}")
    with open(raw_path, encoding="utf-8", errors="replace") as fh:
        try:
            result = PARSERS[tool](fh.read())
        except parse.ParseError as exc:
            raise LoadError(f"{exc} (raw output: {raw_path})") from None
    if not stderr:
        os.remove(err_path)
    if keep:
        with open(raw_path, "rb") as src, gzip.open(raw_path + ".gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    os.remove(raw_path)
    if not keep and os.path.exists(err_path):
        os.remove(err_path)
    return result, usage
