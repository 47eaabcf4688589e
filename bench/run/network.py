"""The network stage: the ways into each server (bench.run.netload.WAYS) measured through each
network profile (bench.run.netem), plaintext and over TLS, for each case (model, batch).

Order: a throwaway CA and certificate; the servers (each plaintext and over TLS, listening on the
host's end of the link) and the null server; the proxy's routes (proxy mode); one probe per
server, way and case (the encoded sizes the bytes are checked against, and a check that every way
answers); then profile by profile — its qdiscs, its calibration (bench.run.netcal), and for every
case and way the servers interleaved, each: a discarded warm-up, closed loop at each concurrency,
open loop at the case's rate; a new connection per request (HTTP/1.1 JSON, plaintext and TLS) for
the first case. Each run records the server's CPU (its process tree), the load generator's and
the proxy's CPU, and the bytes that crossed the link both ways (the proxy's stream counts, the
veth's frame counts).
"""

from __future__ import annotations

import os

from bench.analysis import stats
from bench.results import Network, NetworkRun
from bench.run import certs, measure, netcal, netem, netload, payloads, servers
from bench.run.netload import Way
from bench.run.procs import Supervisor

NETPROXY = os.path.join("bench", "netproxy", "bin", "netproxy")


def run(sup: Supervisor, plan, ui) -> Network:
    """The stage, or a Network that says why it was skipped (no root, no namespaces, no tc)."""
    proxy_bin = os.path.join(plan.repo, NETPROXY)
    try:
        with netem.Emulator(sup, proxy_bin, plan.client_cpus, os.path.join(plan.run_dir, "logs")) as emu:
            if emu.mode == "proxy" and not os.access(proxy_bin, os.X_OK):
                raise netem.Unavailable(f"{proxy_bin} is not built (make bench builds it)")
            ui.info(
                f"network: load generators in namespace {emu.ns} ({emu.client_ip} → {emu.host_ip}), {emu.mode} mode"
            )
            return Stage(sup, plan, ui, emu).measure()
    except netem.Unavailable as exc:
        ui.warn(f"network stage skipped: {exc}")
        return Network(skipped=str(exc))


class Stage:
    def __init__(self, sup: Supervisor, plan, ui, emu: netem.Emulator):
        self.sup, self.plan, self.ui, self.emu = sup, plan, ui, emu
        self.n = plan.settings.network
        self.out = Network(mode=emu.mode, swept=emu.swept)
        self.raw_dir = os.path.join(plan.run_dir, "raw", "network")
        os.makedirs(self.raw_dir, exist_ok=True)

    def measure(self) -> Network:
        n, emu = self.n, self.emu
        ways = [netload.WAYS[w] for w in n.ways]
        tls_modes = sorted({w.tls for w in ways} | ({False, True} if n.handshake else set()))
        self.certs = certs.make(os.path.join(self.plan.run_dir, "tls"), (emu.host_ip,))
        models = payloads.load_models(self.plan.models_dir, [c.model for c in n.cases])
        bodies_dir = os.path.join(self.plan.run_dir, "bodies")
        self.bodies = payloads.write_bodies(bodies_dir, models, sorted({c.batch for c in n.cases}))
        self.servers = {}
        for name in n.servers:
            for tls in tls_modes:
                spec = servers.service_spec(
                    self.plan, name, ("grpc", "http"), tls=self.certs if tls else None, host=emu.host_ip
                )
                spec.name = label(name, tls)
                self.servers[(name, tls)] = servers.start_planned(self.sup, self.plan, spec, f"network-{spec.name}")
        null_spec = servers.toy_spec("toy-go", self.plan.toy_go_bin, host=emu.host_ip)
        null = servers.start_planned(self.sup, self.plan, null_spec, "network-null")
        upstreams = {netcal.NULL: null.endpoints["http"]}
        for (name, tls), server in self.servers.items():
            for transport in ("http", "grpc"):
                upstreams[f"{label(name, tls)}-{transport}"] = server.endpoints[transport]
        profiles = [netem.Profile(p.name, p.rtt_ms, p.bandwidth_mbit) for p in n.profiles]
        emu.start_proxy(profiles, upstreams)
        handshake_ways = [netload.WAYS["h1-json"], netload.WAYS["h1-json-tls"]] if n.handshake else []
        self.sizes = netcal.probe(self.servers, [*ways, *handshake_ways], n.cases, self.bodies, self.certs.ca)
        calibrate = netcal.Calibration(self.sup, self.plan, emu, null.endpoints["http"], n)
        try:
            for profile in sorted(profiles, key=lambda p: p.emulated):  # loopback first: the baseline
                emu.apply(profile)
                result = calibrate.profile(profile)
                self.out.profiles.append(result)
                self.ui.info(
                    f"network {profile.name}: RTT {profile.rtt_ms:g} ms set, "
                    f"{_ms(result.measured_added_rtt_ms)} ms measured ({result.emulation})"
                )
                self._profile(profile, ways)
        finally:
            for server in [*self.servers.values(), null]:
                server.stop(self.sup)
        return self.out

    def _profile(self, profile: netem.Profile, ways: list[Way]) -> None:
        n = self.n
        for index, case in enumerate(n.cases):
            for way in ways:
                for name in n.servers:  # the servers interleaved, way by way
                    if n.warmup_s > 0:
                        self._run(profile, name, way, case, conc=max(n.concurrency), duration_s=n.warmup_s, keep=False)
                    for conc in n.concurrency:
                        self.out.runs.append(self._run(profile, name, way, case, conc=conc))
                    if n.open_loop and way.protocol != "grpc-stream":
                        self.out.runs.append(self._run(profile, name, way, case, rate=case.open_rps))
            if n.handshake and index == 0:
                for name in n.servers:
                    for tls in (False, True):
                        way = netload.WAYS["h1-json-tls" if tls else "h1-json"]
                        self.out.runs.append(self._run(profile, name, way, case, conc=1, keepalive=False))

    def _run(
        self, profile, name, way: Way, case, *, conc=None, rate=None, keepalive=True, duration_s=None, keep=True
    ) -> NetworkRun | None:
        n, emu, plan = self.n, self.emu, self.plan
        server = self.servers[(name, way.tls)]
        upstream = f"{label(name, way.tls)}-{way.transport}"
        address = emu.address(profile, upstream, server.endpoints[way.transport])
        if duration_s is None:
            duration_s = n.closed_duration_s(conc, profile.rtt_ms) if conc is not None else n.duration_s
        req = netload.Request(
            json_body=self.bodies[(case.model, case.batch, "json")],
            protobuf_body=self.bodies[(case.model, case.batch, "protobuf")],
            ca=self.certs.ca,
            timeout_s=plan.settings.request_timeout_s,
            stream_messages=plan.settings.stream_messages,
        )
        load = f"c{conc}" if conc is not None else f"r{rate:g}"
        stem = f"{profile.name}-{label(name, way.tls)}-{way.name}-{case.model}-b{case.batch}-{load}"
        raw = os.path.join(self.raw_dir, stem + ("" if keepalive else "-new")) if keep else None
        route = netem.route_name(profile, upstream) if emu.routes and profile.emulated else None
        before = self._counters(profile, route, server)
        outcome = netload.run(
            self.sup, plan.tools, way, address, req, prefix=emu.client_prefix(profile), cpus=plan.client_cpus,
            duration_s=duration_s, raw_path=raw, conc=conc, rate=rate, keepalive=keepalive,
        )  # fmt: skip
        after = self._counters(profile, route, server)
        if not keep:
            return None
        messages = plan.settings.stream_messages if way.protocol == "grpc-stream" else 1
        answered, sent = outcome.ok * messages, (outcome.ok + outcome.errors) * messages
        cpu_s = _delta(before, after, "cpu")
        size = self.sizes[(name, way.protocol, case.model, case.batch)]
        return NetworkRun(
            profile=profile.name, server=name, protocol=way.protocol, http=way.http, tls=way.tls, way=way.name,
            model=case.model, batch=case.batch, load="closed" if conc is not None else "open", concurrency=conc,
            offered_rps=rate, connections=_delta(before, after, "conns"), handshake=not keepalive,
            tool=outcome.tool, requests=sent, ok=answered, errors=outcome.errors * messages,
            error_kinds=outcome.error_kinds, elapsed_s=outcome.elapsed_s,
            rps=answered / outcome.elapsed_s if outcome.elapsed_s > 0 else None,
            latency_ms=stats.latency_summary(outcome.latencies_ms), server_cpu_s=cpu_s,
            server_cpu_us_per_req=stats.per_request_us(cpu_s, answered),
            bytes_per_request=_per(before, after, ("up", "down"), sent),
            wire_bytes_per_request=_per(before, after, ("wire_up", "wire_down"), sent) if profile.emulated else None,
            payload_bytes={"up": float(size["up"]), "down": float(size["down"])},
            client_cpu_s=outcome.usage.cpu_s,
            client_cpu_util=stats.client_util(outcome.usage.cpu_s, outcome.usage.wall_s, len(plan.client_cpus)),
            proxy_cpu_s=_delta(before, after, "proxy_cpu"), proxy_late_mean_us=after.get("late"),
            raw=os.path.relpath(raw + ".gz", plan.run_dir) if raw else None, command=outcome.argv,
        )  # fmt: skip

    def _counters(self, profile, route, server) -> dict:
        """What is counted around a run: server and proxy CPU, the route's stream bytes and
        connections, the link's frame bytes."""
        # the server's cgroup count, to the µs, as the matrix reads it (a wan run answers ~200
        # requests: /proc's 10 ms ticks were 0 or 52 µs per request there)
        out = {"cpu": measure.tree_cpu(server), "proxy_cpu": self.emu.proxy_cpu_s()}
        if route:
            st = self.emu.proxy_stats()[route]
            out.update(up=st["up_bytes"], down=st["down_bytes"], conns=st["conns"], late=st["late_mean_us"])
        if profile.emulated:
            out["wire_up"], out["wire_down"] = self.emu.link_bytes()
        return out


def label(server: str, tls: bool) -> str:
    """A server as the stage runs it: `go`, `go+tls`."""
    return server + ("+tls" if tls else "")


def _delta(before: dict, after: dict, key: str):
    if before.get(key) is None or after.get(key) is None:
        return None
    return after[key] - before[key]


def _per(before: dict, after: dict, keys: tuple[str, str], requests: int) -> dict[str, float | None]:
    up, down = (_delta(before, after, k) for k in keys)
    return {
        "up": up / requests if up is not None and requests else None,
        "down": down / requests if down is not None and requests else None,
    }


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.3f}"
