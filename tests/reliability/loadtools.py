"""The load generators of the overload attack, pinned to the client CPU: hey (closed-loop capacity,
HTTP), vegeta (open-loop HTTP), ghz (gRPC closed-loop capacity), go_service/bin/openloop (open-loop
gRPC, the bench's capacity generator: calls due on a schedule, latency from when each was due;
ghz --rps from one CPU falls behind at a few thousand calls/s and charges its own queue to the
server). Each returns one record
per request: (latency_s, outcome) where outcome is "ok", "shed" (503 with Retry-After, or
RESOURCE_EXHAUSTED), "shed-no-retry-after" (503 without it) or "error: …" (timeouts, resets, other
statuses)."""

from __future__ import annotations

import json
import os
import subprocess

from bench.analysis import parse
from tests.reliability.harness import CLIENT_CPUS, GO_BIN, TOOLS

OPENLOOP_BIN = os.path.join(os.path.dirname(GO_BIN), "openloop")

PREDICT_METHOD = "predict.v1.PredictionService.Predict"


def _run(sup, argv, stdout_path, timeout_s):
    with open(stdout_path, "wb") as out, open(stdout_path + ".err", "wb") as err:
        proc = sup.spawn(argv, CLIENT_CPUS, stdout=out, stderr=err)
        try:
            code = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            sup.stop(proc)
            raise RuntimeError("%s ran past %.0f s" % (os.path.basename(argv[0]), timeout_s)) from None
        sup.stop(proc)
    if code != 0:
        with open(stdout_path + ".err", errors="replace") as fh:
            raise RuntimeError("%s exited %s: %s" % (os.path.basename(argv[0]), code, fh.read()[-1500:]))


def hey_capacity(sup, url: str, body_path: str, workdir: str, concurrency: int = 16, seconds: float = 3.0) -> float:
    """Correct answers (200) per second of a closed-loop hey run."""
    out = os.path.join(workdir, "hey-capacity.csv")
    argv = [os.path.join(TOOLS, "hey"), "-c", str(concurrency), "-z", "%gs" % seconds, "-t", "5", "-o", "csv"]
    argv += ["-m", "POST", "-T", "application/json", "-D", body_path, url]
    _run(sup, argv, out, seconds + 30)
    ok = 0
    with open(out) as fh:
        next(fh, None)  # response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
        for line in fh:
            fields = line.strip().split(",")
            if len(fields) >= 7 and fields[6] == "200":
                ok += 1
    return ok / seconds


def vegeta(sup, url: str, body_path: str, workdir: str, rate: float, seconds: float, name: str):
    """An open-loop vegeta attack: one record per request. Returns (records, achieved rate)."""
    targets = os.path.join(workdir, name + ".targets")
    with open(targets, "w") as fh:
        fh.write("POST %s\nContent-Type: application/json\n@%s\n" % (url, body_path))
    raw = os.path.join(workdir, name + ".bin")
    argv = [os.path.join(TOOLS, "vegeta"), "attack", "-rate", "%d/1s" % max(1, round(rate))]
    argv += ["-duration", "%gs" % seconds, "-timeout", "5s", "-targets", targets, "-output", raw]
    _run(sup, argv, os.path.join(workdir, name + ".out"), seconds + 30)
    encoded = os.path.join(workdir, name + ".jsonl")
    _run(sup, [os.path.join(TOOLS, "vegeta"), "encode", "--to", "json", raw], encoded, 60)
    with open(encoded) as fh:
        records = [(r["latency"] / 1e9, _http_outcome(r)) for r in map(json.loads, fh)]
    summary = os.path.join(workdir, name + ".report.json")
    _run(sup, [os.path.join(TOOLS, "vegeta"), "report", "-type", "json", raw], summary, 60)
    with open(summary) as fh:
        return records, json.load(fh)["rate"]


def _http_outcome(r) -> str:
    code = r.get("code", 0)
    if code == 200:
        return "ok"
    if code == 503:
        headers = {k.lower(): v for k, v in (r.get("headers") or {}).items()}
        return "shed" if headers.get("retry-after") else "shed-no-retry-after"
    if code == 0:
        return "error: %s" % _short(r.get("error", "no answer"))
    return "error: HTTP %d" % code


def _short(text: str) -> str:
    for word in ("deadline exceeded", "Timeout", "connection reset", "broken pipe", "EOF", "refused", "closed"):
        if word in text:
            return word
    return text[-60:]


def ghz(
    sup,
    address: str,
    body_path: str,
    workdir: str,
    name: str,
    *,
    rate: float | None = None,
    count: int | None = None,
    seconds: float | None = None,
    concurrency: int = 500,
    connections: int = 10,
):
    """ghz calling Predict: rate-limited (`rate` per second for `count` calls, at most
    `concurrency` in flight) or closed-loop (no rate, for `seconds`). Returns (records, total s)."""
    out = os.path.join(workdir, name + ".json")
    argv = [os.path.join(TOOLS, "ghz"), "--insecure", "--call", PREDICT_METHOD, "--data-file", body_path]
    argv += ["-c", str(concurrency), "--connections", str(connections), "--timeout", "5s", "-O", "json"]
    if rate is not None:
        argv += ["--rps", str(max(1, round(rate))), "-n", str(count)]
    else:
        argv += ["-z", "%gs" % seconds]
    _run(sup, [*argv, address], out, (seconds or (count or 0) / max(rate or 1, 1)) + 40)
    with open(out) as fh:
        doc = json.load(fh)
    records = []
    for d in doc.get("details") or ():
        status = d.get("status", "")
        if status == "OK":
            outcome = "ok"
        elif status == "ResourceExhausted":
            outcome = "shed"
        else:
            outcome = "error: %s" % (status or _short(d.get("error", "")))
        records.append((d["latency"] / 1e9, outcome))
    return records, doc["total"] / 1e9


def openloop(sup, address: str, body_path: str, workdir: str, name: str, *, rate: float, seconds: float, conns=4):
    """Open-loop gRPC Predict calls at `rate` per second for `seconds` (5 s deadline each).
    Returns (records, achieved rate): latency from the due time; calls the generator could not
    send (over its in-flight cap) are "error: not sent"."""
    out = os.path.join(workdir, name + ".csv")
    argv = [OPENLOOP_BIN, "-addr", address, "-body", body_path, "-rate", "%g" % rate, "-duration", "%gs" % seconds]
    argv += ["-conns", str(conns), "-timeout", "5s", "-out", out]
    _run(sup, argv, os.path.join(workdir, name + ".out"), seconds + 40)
    records = []
    with open(out) as fh:
        calls = parse.openloop_calls(fh.read())
    for due, _, end, code in calls:
        if code == "NOT_SENT":
            records.append((0.0, "error: not sent"))
        elif code == "OK":
            records.append(((end - due) / 1e9, "ok"))
        elif code == "ResourceExhausted":
            records.append(((end - due) / 1e9, "shed"))
        else:
            records.append(((end - due) / 1e9, "error: %s" % code))
    sent = sum(1 for _, o in records if o != "error: not sent")
    return records, (sent / seconds if seconds else None)
