"""The one place that reads load-generator output: hey `-o csv`, ghz `-O json`, vegeta and openloop CSV.

Only machine output is parsed, never a human summary. hey writes seconds (4 decimals, so its
latencies have 0.1 ms resolution); ghz writes nanoseconds. Both are converted to milliseconds here,
once, and nowhere else.

Both parsers return a ToolRun with the same meaning for every field:
- ok / errors: answers that were / were not a success (HTTP 200, gRPC OK);
- error_kinds: count per HTTP status or gRPC status name of the errors;
- latencies_ms: sorted latencies of the successful answers;
- elapsed_s: from the start of the first request to the end of the last one.

Known limit of hey's CSV: a request that got no HTTP answer at all (connection refused, timeout)
is not written to the CSV, so such transport errors cannot be counted from it; they show up only as
fewer requests. ghz reports them (status "Unavailable", "DeadlineExceeded", ...).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime

HEY_SECONDS_TO_MS = 1e3  # hey's CSV columns are seconds
GHZ_NS_TO_MS = 1e-6  # ghz's JSON durations are nanoseconds
HEY_COLUMNS = ("response-time", "status-code", "offset")
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


class ParseError(ValueError):
    """The tool's output is not what this module knows how to read."""


@dataclass
class ToolRun:
    ok: int
    errors: int
    elapsed_s: float
    latencies_ms: list[float] = field(default_factory=list)
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return self.ok + self.errors


def parse_hey_csv(text: str) -> ToolRun:
    """hey -o csv: one row per answered request: response-time (s), ..., status-code, offset (s)."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not set(HEY_COLUMNS) <= set(reader.fieldnames):
        raise ParseError(f"hey CSV: header {reader.fieldnames!r} lacks columns {HEY_COLUMNS}")
    latencies, kinds = [], {}
    start, end = None, None
    for row in reader:
        try:
            rt_s, status, offset_s = float(row["response-time"]), int(row["status-code"]), float(row["offset"])
        except (TypeError, ValueError) as exc:
            raise ParseError(f"hey CSV line {reader.line_num}: {exc}") from None
        start = offset_s if start is None else min(start, offset_s)
        end = offset_s + rt_s if end is None else max(end, offset_s + rt_s)
        if status == 200:
            latencies.append(rt_s * HEY_SECONDS_TO_MS)
        else:
            key = f"HTTP {status}"
            kinds[key] = kinds.get(key, 0) + 1
    errors = sum(kinds.values())
    latencies.sort()
    return ToolRun(
        ok=len(latencies), errors=errors, elapsed_s=_window(start, end), latencies_ms=latencies, error_kinds=kinds
    )


def parse_ghz_json(text: str) -> ToolRun:
    """ghz -O json: `details` holds one entry per call: timestamp (end of the call), latency (ns), status."""
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"ghz JSON: {exc}") from None
    if not isinstance(report, dict) or "count" not in report:
        raise ParseError("ghz JSON: not a ghz report (no 'count')")
    details = report.get("details") or []
    if len(details) != report["count"]:
        raise ParseError(f"ghz JSON: {len(details)} details for count {report['count']} (over ghz's 1e6 cap?)")
    latencies, kinds = [], {}
    start, end = None, None
    for item in details:
        latency_ns = int(item["latency"])
        end_ns = _timestamp_ns(item["timestamp"])
        start = end_ns - latency_ns if start is None else min(start, end_ns - latency_ns)
        end = end_ns if end is None else max(end, end_ns)
        if item.get("status") == "OK" and not item.get("error"):
            latencies.append(latency_ns * GHZ_NS_TO_MS)
        else:
            key = item.get("status") or "error"
            kinds[key] = kinds.get(key, 0) + 1
    latencies.sort()
    window_ns = _window(start, end) if details else int(report.get("total", 0))
    elapsed_s = window_ns * GHZ_NS_TO_MS / 1e3
    return ToolRun(
        ok=len(latencies), errors=sum(kinds.values()), elapsed_s=elapsed_s, latencies_ms=latencies, error_kinds=kinds
    )


def _window(start, end) -> float:
    return 0.0 if start is None else max(end - start, 0)


def _timestamp_ns(text: str) -> int:
    """RFC 3339 with up to nanosecond fractions (Go's time.Time JSON) → integer ns since the epoch."""
    match = _TIMESTAMP.match(text)
    if not match:
        raise ParseError(f"ghz JSON: timestamp {text!r} is not RFC 3339")
    base, fraction, zone = match.groups()
    seconds = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone)).timestamp()
    nanos = int((fraction or "0")[:9].ljust(9, "0"))
    return int(seconds) * 1_000_000_000 + nanos


@dataclass
class OpenLoopRun:
    """An open-loop run: requests sent on a schedule; latencies (successful answers, sorted, ms)
    measured from when each request was due, not from when it was sent."""

    ok: int
    errors: int
    sent: int
    elapsed_s: float  # from the first request due to the last answer
    latencies_ms: list[float] = field(default_factory=list)
    error_kinds: dict[str, int] = field(default_factory=dict)
    lateness_ms: list[float] = field(default_factory=list)  # sorted: how late each request was sent

    @property
    def requests(self) -> int:
        return self.ok + self.errors


NS_TO_MS = 1e-6  # the open-loop generators write nanoseconds


def parse_vegeta_csv(text: str, rate: float) -> OpenLoopRun:
    """`vegeta encode --to csv`: timestamp (ns, when sent), code, latency (ns), bytes out, bytes in,
    error, body, attack, seq, … — vegeta's constant pacer makes request `seq` due at
    began + seq / rate. `began` is not written out; the pacer never sends early, so it is the
    earliest of sent − seq / rate over the requests."""
    rows = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row:
            continue
        try:
            rows.append((int(row[0]), int(row[1]), int(row[2]), row[5], int(row[8])))
        except (IndexError, ValueError) as exc:
            raise ParseError(f"vegeta CSV line {number}: {exc}") from None
    if not rows:
        return OpenLoopRun(ok=0, errors=0, sent=0, elapsed_s=0.0)
    interval = 1e9 / rate
    t0 = min(sent - seq * interval for sent, _, _, _, seq in rows)
    calls = []
    for sent, code, latency, error, seq in rows:
        ok = code == 200 and not error
        kind = None if ok else (f"HTTP {code}" if code else (error.split(":")[-1].strip() or "error"))
        calls.append((t0 + seq * interval, sent, sent + latency, kind))
    return _open_loop(calls, t0)


def openloop_calls(text: str) -> list[tuple[int, int | None, int | None, str]]:
    """The bench's open-loop gRPC generator (go_service/cmd/openloop): a header, then
    seq,due_ns,sent_ns,end_ns,code per call (ns from its t0; code OK, a gRPC code name, or
    NOT_SENT with sent and end -1) → (due, sent or None, end or None, code) per call."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "seq,due_ns,sent_ns,end_ns,code":
        raise ParseError("openloop CSV: no header line 'seq,due_ns,sent_ns,end_ns,code'")
    calls = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            _, due, sent, end, code = line.split(",")
            due, sent, end = int(due), int(sent), int(end)
        except ValueError as exc:
            raise ParseError(f"openloop CSV line {number}: {exc}") from None
        calls.append((due, sent if sent >= 0 else None, end if end >= 0 else None, code.strip()))
    return calls


def parse_openloop_csv(text: str) -> OpenLoopRun:
    """openloop's CSV (`openloop_calls`) → latency of each answer from when it was due."""
    return _open_loop([(d, s, e, None if c == "OK" else c) for d, s, e, c in openloop_calls(text)], 0)


def _open_loop(calls: list[tuple], t0: float) -> OpenLoopRun:
    """(due, sent, end, error kind or None) per request, ns → an OpenLoopRun: latency of each
    answer from when it was due, lateness of each send, error kinds."""
    latencies, lateness, kinds, end_max = [], [], {}, t0
    for due, sent, end, kind in calls:
        if sent is not None:
            lateness.append(max(0.0, (sent - due) * NS_TO_MS))
        if end is not None:
            end_max = max(end_max, end)
        if kind is None:
            latencies.append((end - min(sent, due)) * NS_TO_MS)
        else:
            kinds[kind] = kinds.get(kind, 0) + 1
    latencies.sort()
    lateness.sort()
    return OpenLoopRun(
        ok=len(latencies),
        errors=sum(kinds.values()),
        sent=sum(1 for _, sent, _, _ in calls if sent is not None),
        elapsed_s=(end_max - t0) / 1e9,
        latencies_ms=latencies,
        error_kinds=kinds,
        lateness_ms=lateness,
    )


def parse_open_loop(tool: str, text: str, rate: float) -> OpenLoopRun:
    """The raw output of any open-loop generator the bench uses, by its name."""
    if tool == "vegeta":
        return parse_vegeta_csv(text, rate)
    if tool == "openloop":
        return parse_openloop_csv(text)
    if tool == "ghz":
        run = parse_ghz_json(text)
        return OpenLoopRun(ok=run.ok, errors=run.errors, sent=run.requests, elapsed_s=run.elapsed_s,
                           latencies_ms=run.latencies_ms, error_kinds=run.error_kinds)  # fmt: skip
    raise ParseError(f"no parser for the open-loop generator {tool!r}")


@dataclass
class VegetaClosed:
    """A closed-loop vegeta run (`-rate=0 -max-workers=N`: N requests in flight, each sent when the
    one before it on its worker was answered): the ToolRun, and the mean request and answer body
    bytes vegeta counted (bytes_out, bytes_in) over the successful answers."""

    run: ToolRun
    body_out: float | None
    body_in: float | None


def parse_vegeta_closed_csv(text: str) -> VegetaClosed:
    """`vegeta encode --to csv` of a closed-loop attack: timestamp (ns, sent), code, latency (ns),
    bytes out, bytes in, error, …; latencies from send (nothing waits on a schedule)."""
    latencies, kinds, outs, ins = [], {}, [], []
    start = end = None
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row:
            continue
        try:
            sent, code, latency, out, got, error = (
                int(row[0]),
                int(row[1]),
                int(row[2]),
                int(row[3]),
                int(row[4]),
                row[5],
            )
        except (IndexError, ValueError) as exc:
            raise ParseError(f"vegeta CSV line {number}: {exc}") from None
        start = sent if start is None else min(start, sent)
        end = sent + latency if end is None else max(end, sent + latency)
        if code == 200 and not error:
            latencies.append(latency * NS_TO_MS)
            outs.append(out)
            ins.append(got)
        else:
            kind = f"HTTP {code}" if code else (error.split(":")[-1].strip() or "error")
            kinds[kind] = kinds.get(kind, 0) + 1
    latencies.sort()
    run = ToolRun(
        ok=len(latencies),
        errors=sum(kinds.values()),
        elapsed_s=(end - start) / 1e9 if start is not None else 0.0,
        latencies_ms=latencies,
        error_kinds=kinds,
    )
    return VegetaClosed(run, sum(outs) / len(outs) if outs else None, sum(ins) / len(ins) if ins else None)
