"""Figures derived from the network stage's runs (results.network): the table per case, each way's
gain or loss against HTTP/1.1 JSON, what TLS costs per request and per handshake, the bytes each
protocol puts on the wire against the encoded payload, and each profile's round trip as set and as
measured. The report prints these; nothing here reads anything but the Results.
"""

from __future__ import annotations

from collections.abc import Iterable

from bench.results import Network, NetworkRun

BASELINE = {False: "h1-json", True: "h1-json-tls"}  # each way is compared with HTTP/1.1 JSON, TLS alike
# What a request or answer may carry beyond its encoded payload, on the TCP stream (bytes per
# request, each way): HTTP/1.1 — the request line and headers, the status line and headers (Go's
# client sends ~180 B, the servers answer ~110–130 B); HTTP/2 — a HEADERS frame (9 B + HPACK,
# ~10–40 B once the dynamic table holds the headers), DATA frames (9 B each), WINDOW_UPDATE (13 B)
# and PING frames, gRPC's 5-byte message prefix and its trailers; TLS 1.3 — 22 B per record (5
# header, 1 content type, 16 tag) and the handshake amortized over the connection's requests.
FRAMING_BOUND = {"1.1": 300, "2": 200}
TLS_BOUND = 100
MIN_FOR_P99 = 100  # fewer answers than this: the p99 is (nearly) the slowest one


def runs(net: Network | None, **where) -> list[NetworkRun]:
    if net is None:
        return []
    return [r for r in net.runs if all(getattr(r, k) == v for k, v in where.items())]


def _one(items: Iterable[NetworkRun]) -> NetworkRun | None:
    items = list(items)
    return items[0] if items else None


def cell(net: Network, profile: str, server: str, way: str, model: str, batch: int) -> dict:
    """The runs of one (profile, server, way, case): closed loop by concurrency, open, new connection."""
    mine = runs(net, profile=profile, server=server, way=way, model=model, batch=batch)
    return {
        "closed": {r.concurrency: r for r in mine if r.load == "closed" and not r.handshake},
        "open": _one(r for r in mine if r.load == "open"),
        "new": _one(r for r in mine if r.handshake),
    }


def cases(net: Network) -> list[tuple[str, int]]:
    return list(dict.fromkeys((r.model, r.batch) for r in net.runs))


def order(net: Network, attr: str) -> list:
    """The values of a run attribute in the order the stage measured them."""
    return list(dict.fromkeys(getattr(r, attr) for r in net.runs if not r.handshake))


def gains(net: Network, conc_low: int = 1, conc_high: int = 10) -> list[dict]:
    """Each way against HTTP/1.1 JSON (TLS against TLS) at the same profile, server and case:
    p50 at `conc_low` and req/s at `conc_high`, as ratios (< 1 latency: faster; > 1 req/s: more)."""
    out = []
    for model, batch in cases(net):
        for profile in order(net, "profile"):
            for server in order(net, "server"):
                for way in order(net, "way"):
                    mine = cell(net, profile, server, way, model, batch)
                    tls = way.endswith("-tls")
                    if way == BASELINE[tls]:
                        continue
                    base = cell(net, profile, server, BASELINE[tls], model, batch)
                    low, base_low = mine["closed"].get(conc_low), base["closed"].get(conc_low)
                    high, base_high = mine["closed"].get(conc_high), base["closed"].get(conc_high)
                    if not (low and base_low) and not (high and base_high):
                        continue
                    out.append(
                        {
                            "model": model,
                            "batch": batch,
                            "profile": profile,
                            "server": server,
                            "way": way,
                            "baseline": BASELINE[tls],
                            "p50_ratio": _ratio(low and low.latency_ms.p50, base_low and base_low.latency_ms.p50),
                            "rps_ratio": _ratio(high and high.rps, base_high and base_high.rps),
                            "errors": any(r and r.errors for r in (low, base_low, high, base_high)),
                        }
                    )
    return out


def tls_cost(net: Network, profile: str = "loopback", conc: int = 10) -> list[dict]:
    """What TLS adds to a request kept alive — the record layer —, per server and way, against the
    same way in plaintext (HTTP/2 has none: it is left out), on `profile` (loopback: the most
    requests, so the least of the idle server's own CPU in each figure): server CPU per request at
    `conc` in flight and p50 at 1."""
    out = []
    model, batch = cases(net)[0] if net.runs else (None, None)
    ways = order(net, "way")
    for server in order(net, "server"):
        for way in [w for w in ways if w.endswith("-tls") and plain(w) in ways]:
            tls = cell(net, profile, server, way, model, batch)["closed"]
            clear = cell(net, profile, server, plain(way), model, batch)["closed"]
            out.append(
                {
                    "server": server,
                    "way": way,
                    "against": plain(way),
                    "cpu_us": _diff(tls.get(conc), clear.get(conc), "cpu"),
                    "p50_ms": _diff(tls.get(1), clear.get(1), "p50"),
                    "errors": any(r and r.errors for r in (tls.get(conc), clear.get(conc), tls.get(1), clear.get(1))),
                }
            )
    return out


def handshakes(net: Network) -> list[dict]:
    """A new connection per request (HTTP/1.1 JSON, concurrency 1), per server and profile: its p50
    in plaintext and over TLS, and what each adds — the TCP connect (new plaintext connection
    against a kept-alive one) and the TLS handshake (TLS against plaintext, both new): round trips
    and server CPU per request."""
    out = []
    model, batch = cases(net)[0] if net.runs else (None, None)
    for profile in order(net, "profile"):
        for server in order(net, "server"):
            tls_new = cell(net, profile, server, "h1-json-tls", model, batch)["new"]
            plain_new = cell(net, profile, server, "h1-json", model, batch)["new"]
            kept = cell(net, profile, server, "h1-json", model, batch)["closed"].get(1)
            if not (tls_new and plain_new):
                continue
            out.append(
                {
                    "profile": profile,
                    "server": server,
                    "kept_p50_ms": kept and kept.latency_ms.p50,
                    "new_p50_ms": plain_new.latency_ms.p50,
                    "new_tls_p50_ms": tls_new.latency_ms.p50,
                    "connect_ms": _diff(plain_new, kept, "p50"),
                    "handshake_ms": _diff(tls_new, plain_new, "p50"),
                    "connect_cpu_us": _diff(plain_new, kept, "cpu"),
                    "handshake_cpu_us": _diff(tls_new, plain_new, "cpu"),
                    "tls_bytes": tls_new.bytes_per_request,
                    "answers": min(tls_new.ok, plain_new.ok),
                    "errors": bool(tls_new.errors or plain_new.errors),
                }
            )
    return out


def bytes_check(net: Network, profile: str | None = None) -> list[dict]:
    """Per server, way and case: the bytes per request on the TCP stream (the proxy's count) and on
    the link (frames), against the encoded payload; the framing overhead within its stated bound.
    Read at concurrency 1 kept alive on the first emulated profile (the longest runs without errors)."""
    emulated = [r.profile for r in net.runs if r.bytes_per_request.get("up") is not None]
    profile = profile or (emulated[0] if emulated else None)
    out = []
    for r in runs(net, profile=profile, load="closed", concurrency=1, handshake=False):
        bound = FRAMING_BOUND[r.http] + (TLS_BOUND if r.tls else 0)
        row = {"server": r.server, "way": r.way, "model": r.model, "batch": r.batch, "bound": bound, "ok": None}
        for side in ("up", "down"):
            stream, payload = r.bytes_per_request.get(side), r.payload_bytes.get(side)
            row[f"{side}_stream"], row[f"{side}_payload"] = stream, payload
            row[f"{side}_wire"] = (r.wire_bytes_per_request or {}).get(side)
            row[f"{side}_overhead"] = stream - payload if stream is not None and payload is not None else None
        overheads = [row["up_overhead"], row["down_overhead"]]
        if None not in overheads and not r.errors:
            row["ok"] = all(0 <= o <= bound for o in overheads)
        out.append(row)
    return out


def plain(way: str) -> str:
    """The same way in plaintext."""
    return way.removesuffix("-tls")


def _ratio(a, b):
    return a / b if a is not None and b else None


def _diff(a: NetworkRun | None, b: NetworkRun | None, what: str) -> float | None:
    if a is None or b is None:
        return None
    if what == "cpu":
        x, y = a.server_cpu_us_per_req, b.server_cpu_us_per_req
    else:
        x, y = a.latency_ms.p50, b.latency_ms.p50
    return x - y if x is not None and y is not None else None
