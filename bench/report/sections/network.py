"""Across a network: each way into each server through each emulated network, plaintext and TLS
(results.network; figures from bench.analysis.network)."""

from __future__ import annotations

from bench.analysis import network as analysis
from bench.report.format import num, ratio_text, section, table
from bench.results import Network, Results

PLOTS = (("latency against round trip", "network_latency.png"), ("bytes per request", "network_bytes.png"))


def render(results: Results, conc: int | None) -> list[str]:
    net = results.network
    if net is None:
        return section("Across a network", ["Not measured: the network stage was not among this run's stages."])
    if net.skipped:
        return section("Across a network", [f"Not measured here: {net.skipped}."])
    return section(
        "Across a network",
        [
            *_method(net),
            "",
            *_profiles(net),
            "",
            *[line for model, batch in analysis.cases(net) for line in _case_table(net, model, batch)],
            *[line for alt, name in PLOTS for line in (f"![{alt}]({name})", "")],
            *_gains(net),
            "",
            *_tls(net),
            "",
            *_bytes(net),
        ],
    )


def _method(net: Network) -> list[str]:
    how = (
        "netem on both ends of the link (delay, rate)"
        if net.mode == "netem"
        else "the bench's delaying proxy (bench/netproxy) for the round trip, calibrated per profile, and tbf on "
        "both ends of the link for the bandwidth (this kernel has no netem)"
    )
    proxy = [r.proxy_cpu_s / r.elapsed_s for r in net.runs if r.proxy_cpu_s is not None and r.elapsed_s > 0]
    client = [r.client_cpu_util for r in net.runs if r.client_cpu_util is not None]
    lines = [
        f"The load generators run in a network namespace joined to the servers' host by a veth pair, pinned with "
        f"{'the proxy ' if net.mode == 'proxy' else ''}on the client CPUs; emulation: {how}. loopback is no "
        "emulation at all. HTTP: vegeta (verifies the run's CA; closed loop `-rate=0 -max-workers=N`, open loop "
        "`-rate=R`; a new connection per request `-keepalive=false`, full handshakes), which opens one connection "
        "per request in flight over HTTP/1.1 and one for all over HTTP/2; gRPC: ghz (closed loop) and openloop "
        "(open loop), one connection carrying every stream. `conns` is what the proxy counted.",
        f"Own CPU: the proxy used at most {_pct(max(proxy, default=None))} of a CPU during a run; the load generator "
        f"at most {_pct(max(client, default=None))} of its CPUs. One timed run per cell (no repeats): differences "
        "of a few percent are noise here; the round trips, ratios over 1.2× and the bytes are not.",
    ]
    if net.swept:
        lines.append(f"Removed first, left by dead runs: {', '.join(net.swept)}.")
    return lines + [f"Note: {n}" for n in net.notes]


def _profiles(net: Network) -> list[str]:
    rows = [
        [
            p.name,
            num(p.rtt_ms, 2),
            "unlimited" if not p.bandwidth_mbit else f"{p.bandwidth_mbit:g} Mbit/s",
            num(p.measured_added_rtt_ms, 3),
            {True: "yes", False: "**no**", None: "n/a"}[p.on_target],
            p.emulation + (f" ({num(p.one_way_delay_us, 0)} µs each way)" if p.one_way_delay_us is not None else ""),
        ]
        for p in net.profiles
    ]
    header = ["profile", "RTT set (ms)", "bandwidth each way", "measured added RTT (ms)", "on target", "emulation"]
    return [
        "Each profile's measured added round trip: the null server's p50 at concurrency 1 through it minus through "
        "loopback (on target: within 10 % or 0.1 ms).",
        "",
        *table(header, rows),
    ]


def _case_table(net: Network, model: str, batch: int) -> list[str]:
    rate = next((r.offered_rps for r in analysis.runs(net, model=model, batch=batch, load="open")), None)
    header = ["profile", "server", "way", "conns", "c1 p50 ms", "c1 p99 ms", "c10 req/s", "c10 p50 ms", "c10 p99 ms"]
    header += [f"open p99 ms @ {num(rate, 0)}/s", "CPU µs/req (c10)", "bytes/req up / down", "flags"]
    rows = []
    for profile in analysis.order(net, "profile"):
        for way in analysis.order(net, "way"):
            for server in analysis.order(net, "server"):
                c = analysis.cell(net, profile, server, way, model, batch)
                one, ten, opened = c["closed"].get(1), c["closed"].get(10), c["open"]
                if not (one or ten or opened):
                    continue
                b = (one or ten).bytes_per_request
                rows.append(
                    [
                        profile,
                        server,
                        way,
                        str(ten.connections) if ten and ten.connections is not None else "",
                        num(one and one.latency_ms.p50, 3),
                        num(one and one.latency_ms.p99, 3),
                        num(ten and ten.rps, 0),
                        num(ten and ten.latency_ms.p50, 3),
                        num(ten and ten.latency_ms.p99, 3),
                        num(opened and opened.latency_ms.p99, 3),
                        num(ten and ten.server_cpu_us_per_req, 0),
                        f"{num(b['up'], 0)} / {num(b['down'], 0)}" if b.get("up") is not None else "",
                        _flags(one, ten, opened),
                    ]
                )
    return [f"**{model}, batch {batch}**", "", *table(header, rows), ""]


def _flags(*items) -> str:
    out = []
    for r in items:
        if r is None:
            continue
        name = f"c{r.concurrency}" if r.load == "closed" else "open"
        if r.errors:
            out.append(f"{name}: {r.errors} errors ({', '.join(f'{k} {v}' for k, v in r.error_kinds.items())})")
        if r.load == "closed" and r.concurrency == 1 and r.ok < analysis.MIN_FOR_P99:
            out.append(f"c1: {r.ok} answers (p99 ≈ slowest)")
    return "; ".join(out)


def _gains(net: Network) -> list[str]:
    data = analysis.gains(net)
    profiles = analysis.order(net, "profile")
    keys = list(dict.fromkeys((d["model"], d["batch"], d["server"], d["way"]) for d in data))
    rows = []
    for model, batch, server, way in keys:
        mine = {
            d["profile"]: d
            for d in data
            if (d["model"], d["batch"], d["server"], d["way"]) == (model, batch, server, way)
        }
        cells = [
            f"{ratio_text(mine[p]['p50_ratio'])} / {ratio_text(mine[p]['rps_ratio'])}"
            + (" (E)" if mine[p]["errors"] else "")
            if p in mine
            else ""
            for p in profiles
        ]
        rows.append([f"{model} b{batch}", server, way, *cells])
    return [
        "Against HTTP/1.1 JSON (TLS against TLS), same server, profile and case: p50 at concurrency 1 ÷ HTTP/1.1 "
        "JSON's (below 1×: faster) / req/s at 10 in flight ÷ HTTP/1.1 JSON's (above 1×: more). (E): a run had errors.",
        "",
        *table(["case", "server", "way", *profiles], rows),
    ]


def _tls(net: Network) -> list[str]:
    kept = [
        [
            d["server"],
            d["way"],
            d["against"],
            num(d["cpu_us"], 0),
            num(d["p50_ms"], 3),
            "errors in a run" if d["errors"] else "",
        ]
        for d in analysis.tls_cost(net)
    ]
    new = [
        [d["server"], d["profile"], num(d["kept_p50_ms"], 3), num(d["new_p50_ms"], 3), num(d["new_tls_p50_ms"], 3),
         num(d["connect_ms"], 3), num(d["handshake_ms"], 3), num(d["connect_cpu_us"], 0), num(d["handshake_cpu_us"], 0),
         _pair(d["tls_bytes"]) if d["tls_bytes"].get("up") else "",
         str(d["answers"]) + (", errors" if d["errors"] else "")]
        for d in analysis.handshakes(net)
    ]  # fmt: skip
    out = [
        "What TLS costs a request kept alive (the record layer), loopback, against the same way in plaintext "
        "(HTTP/2 is spoken over TLS only, so it has no pair): server CPU per request at 10 in flight, p50 at 1.",
        "",
        *table(["server", "over TLS", "against", "+ server CPU µs/req (c10)", "+ p50 ms (c1)", "note"], kept),
    ]
    if new:
        header = ["server", "profile", "kept alive p50", "new conn. p50", "new TLS conn. p50", "TCP connect ms"]
        header += ["TLS handshake ms", "connect CPU µs", "handshake CPU µs", "bytes/req up / down (TLS)", "answers"]
        out += [
            "",
            "A new connection per request (HTTP/1.1 JSON, concurrency 1; vegeta `-keepalive=false`, full TLS 1.3 "
            "handshakes, no resumption): what the TCP connect adds (new plaintext connection against kept alive) and "
            "what the TLS handshake adds (TLS against plaintext, both new), in latency and in server CPU per request. "
            "At long round trips a run holds few requests, and the server's own idle CPU weighs on the CPU figures.",
            "",
            *table(header, new),
        ]
    return out


def _bytes(net: Network) -> list[str]:
    data = analysis.bytes_check(net)
    if not data:
        return ["Bytes on the wire: not measured (no emulated profile)."]
    rows = [
        [d["server"], d["way"], f"{d['model']} b{d['batch']}",
         f"{num(d['up_payload'], 0)} / {num(d['down_payload'], 0)}",
         f"{num(d['up_stream'], 0)} / {num(d['down_stream'], 0)}",
         f"{num(d['up_wire'], 0)} / {num(d['down_wire'], 0)}",
         f"{num(d['up_overhead'], 0)} / {num(d['down_overhead'], 0)}",
         str(d["bound"]), {True: "yes", False: "**no**", None: "n/a"}[d["ok"]]]
        for d in data
    ]  # fmt: skip
    header = ["server", "way", "case", "payload up / down", "TCP stream up / down", "link frames up / down"]
    header += ["framing up / down", "bound", "within"]
    return [
        "Bytes per request, each way (concurrency 1, kept alive, first emulated profile): the encoded request "
        "and answer (body or message), what the TCP stream carried (the proxy's count: HTTP, HTTP/2 and gRPC "
        "framing, TLS records) and what crossed the link (frames: TCP/IP headers and ACKs too). The framing is "
        f"checked against its bound: {analysis.FRAMING_BOUND['1.1']} B for HTTP/1.1 (request line and headers), "
        f"{analysis.FRAMING_BOUND['2']} B for HTTP/2 and gRPC (frame headers, HPACK, the gRPC prefix and trailers), "
        f"+{analysis.TLS_BOUND} B over TLS (22 B per record, the handshake amortized).",
        "",
        *table(header, rows),
    ]


def _pair(b: dict) -> str:
    return f"{num(b.get('up'), 0)} / {num(b.get('down'), 0)}"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0%}"
