"""The network stage's pieces that need no root and no process: the ways and their command lines,
the settings, the parsing, the figures derived from runs, the report section, results.json."""

import json
import pathlib

import pytest

from bench import config
from bench.analysis import network as analysis
from bench.analysis import parse
from bench.plan import estimate_s
from bench.report.sections import network as section
from bench.results import Latency, Network, NetworkProfileResult, NetworkRun, Results
from bench.run import netload
from bench.run.loadgen import Tools
from bench.settings import NETWORK_WAYS, Settings
from tests.bench.test_bench_servers import SCENARIOS, every_spec

TOOLS = Tools(hey="hey", ghz="ghz", proto="p.proto", proto_root="proto", vegeta="vegeta", openloop="openloop")
REQ = netload.Request(json_body="b.json", protobuf_body="b.pb", ca="ca.pem", timeout_s=10, stream_messages=100)


def test_ways_are_the_settings_ways():
    assert sorted(netload.WAYS) == sorted(NETWORK_WAYS)
    assert netload.WAYS["h2-json-tls"] == netload.Way("h2-json-tls", "http-json", "2", True)
    assert not any(w.http == "2" and w.transport == "http" and not w.tls for w in netload.WAYS.values())


def test_vegeta_command_lines():
    closed = netload.vegeta_argv(TOOLS, netload.WAYS["h1-json"], "t.txt", "o.bin", 1.0, REQ, conc=10)
    assert "-rate=0" in closed and "-max-workers=10" in closed and "-http2=false" in closed
    assert not any(a.startswith("-root-certs") for a in closed)
    h2 = netload.vegeta_argv(TOOLS, netload.WAYS["h2-json-tls"], "t.txt", "o.bin", 1.0, REQ, rate=200)
    assert "-rate=2000/10s" in h2 and "-http2=true" in h2 and "-root-certs=ca.pem" in h2
    assert "-max-connections=1" in h2  # one connection carrying every stream
    new = netload.vegeta_argv(TOOLS, netload.WAYS["h1-json-tls"], "t.txt", "o.bin", 1.0, REQ, conc=1, keepalive=False)
    assert "-keepalive=false" in new


def test_grpc_command_lines_verify_the_server():
    argv = netload.ghz_argv(TOOLS, netload.WAYS["grpc-tls"], "10.0.0.1:5", 1.0, 10, 1, REQ)
    assert "--insecure" not in argv and argv[argv.index("--cacert") + 1] == "ca.pem"
    assert argv[argv.index("--connections") + 1] == "1"
    plain = netload.ghz_argv(TOOLS, netload.WAYS["grpc-stream"], "10.0.0.1:5", 1.0, 10, 1, REQ)
    assert "--insecure" in plain and "--stream-call-count" in plain
    assert netload.openloop_argv(TOOLS, "a:1", 100, 1.0, REQ, "o.csv", True)[-2:] == ["-cacert", "ca.pem"]


def test_vegeta_closed_loop_csv():
    text = (
        "1000000000,200,2000000,119,150,,Ym9keQ==,,0,POST,u,\n"
        "1001000000,200,1000000,119,152,,Ym9keQ==,,1,POST,u,\n"
        "1002000000,503,500000,119,40,,,,2,POST,u,\n"
    )
    got = parse.parse_vegeta_closed_csv(text)
    assert (got.run.ok, got.run.errors, got.run.error_kinds) == (2, 1, {"HTTP 503": 1})
    assert got.run.latencies_ms == [1.0, 2.0] and got.run.elapsed_s == pytest.approx(0.0025)
    assert (got.body_out, got.body_in) == (119, 151)


@pytest.mark.parametrize("profile", ["full", "network", "network-brief"])
def test_profiles_and_estimate(profile):
    s = Settings.from_json(config.load(SCENARIOS, profile))
    assert s.network.profiles[0].name == "loopback"  # every other profile's baseline
    assert "network" in s.stages
    assert "network_s" in estimate_s(_plan(s, profile))
    every_spec(profile)  # the servers it starts carry no admission flags either


def _plan(s, profile):
    from bench.plan import Plan

    return Plan(s, profile, "", "", "models", [0], [1], None, "go", "toy")


def _run(profile, server, way, conc=1, p50=1.0, rps=100.0, cpu=50.0, load="closed", handshake=False, up=300.0, **kw):
    w = netload.WAYS[way]
    values = dict(
        profile=profile, server=server, protocol=w.protocol, http=w.http, tls=w.tls, way=way, model="iris-logreg",
        batch=1, load=load, concurrency=conc if load == "closed" else None,
        offered_rps=None if load == "closed" else 200, connections=conc, handshake=handshake, tool="vegeta",
        requests=1000, ok=1000, errors=0, error_kinds={}, elapsed_s=1.0, rps=rps,
        latency_ms=Latency(p50=p50, p99=2 * p50), server_cpu_s=cpu * 1e-3, server_cpu_us_per_req=cpu,
        bytes_per_request={"up": up, "down": 260.0}, wire_bytes_per_request={"up": up + 70, "down": 330.0},
        payload_bytes={"up": 119.0, "down": 150.0}, client_cpu_s=0.3, client_cpu_util=0.3, proxy_cpu_s=0.05,
        proxy_late_mean_us=10.0, raw=None, command=["vegeta"],
    )  # fmt: skip
    values.update(kw)
    return NetworkRun(**values)


@pytest.fixture
def net():
    runs = []
    for profile, rtt in (("loopback", 0.0), ("lan", 0.25)):
        for server in ("go", "python"):
            for way, scale in (("h1-json", 1.0), ("grpc", 0.8), ("h1-json-tls", 1.1), ("h2-json-tls", 1.05)):
                runs.append(_run(profile, server, way, 1, p50=(0.2 + rtt) * scale, cpu=50 * scale))
                runs.append(_run(profile, server, way, 10, rps=1000 / scale, cpu=40 * scale))
            runs.append(_run(profile, server, "h1-json", 1, p50=0.3 + 2 * rtt, cpu=80, handshake=True))
            runs.append(_run(profile, server, "h1-json-tls", 1, p50=0.8 + 3 * rtt, cpu=300, handshake=True, up=700.0))
    profiles = [
        NetworkProfileResult("loopback", 0, 0, 0.0, "none", 0.05, None, True),
        NetworkProfileResult("lan", 0.25, 0, 0.27, "netproxy", 0.32, 60.0, True),
    ]
    return Network(mode="proxy", profiles=profiles, runs=runs)


def test_gains_against_http1_json(net):
    rows = {(d["profile"], d["server"], d["way"]): d for d in analysis.gains(net)}
    assert rows[("lan", "go", "grpc")]["p50_ratio"] == pytest.approx(0.8)
    assert rows[("lan", "go", "grpc")]["rps_ratio"] == pytest.approx(1.25)
    assert rows[("lan", "go", "h2-json-tls")]["baseline"] == "h1-json-tls"  # TLS against TLS
    assert ("lan", "go", "h1-json") not in rows and ("lan", "go", "h1-json-tls") not in rows


def test_tls_costs_and_handshakes(net):
    kept = {d["way"]: d for d in analysis.tls_cost(net) if d["server"] == "go"}
    assert set(kept) == {"h1-json-tls"}  # h2 has no plaintext pair
    assert kept["h1-json-tls"]["cpu_us"] == pytest.approx(4.0)
    hs = {(d["profile"], d["server"]): d for d in analysis.handshakes(net)}
    lan = hs[("lan", "go")]
    assert lan["handshake_ms"] == pytest.approx(0.5 + 0.25) and lan["handshake_cpu_us"] == pytest.approx(220)
    assert lan["connect_ms"] == pytest.approx((0.3 + 0.5) - 0.45)


def test_bytes_against_payload(net):
    rows = analysis.bytes_check(net)
    assert {r["way"] for r in rows} == {"h1-json", "grpc", "h1-json-tls", "h2-json-tls"}
    assert all(r["up_overhead"] == pytest.approx(300 - 119) for r in rows)
    assert all(r["ok"] for r in rows)
    net.runs[0].bytes_per_request["up"] = 100.0  # less than the payload: impossible, flagged
    bad = [r for r in analysis.bytes_check(net) if r["up_overhead"] < 0]
    assert bad and not any(r["ok"] for r in bad)


def test_section_and_results_json(net, tmp_path):
    results = Results("r", "network-brief", [], "", "", {}, {}, {}, network=net)
    text = "\n".join(section.render(results, None))
    assert "## Across a network" in text and "| lan | 0.25 |" in text and "![latency against round trip]" in text
    back = Results.from_json(json.loads(json.dumps(results.to_json())))
    assert back.network == net
    skipped = Results("r", "full", [], "", "", {}, {}, {}, network=Network(skipped="needs root"))
    assert "Not measured here: needs root." in "\n".join(section.render(skipped, None))


def test_the_vegeta_targets_file_names_the_scheme_and_the_encoding(tmp_path):
    """The network stage's vegeta targets: https over TLS; JSON, or a binary PredictRequest asking for a
    binary answer (the one writer, loadgen.vegeta_targets, as capacity's)."""
    req = netload.Request("/b/iris.json", "/b/iris.pb", "/ca.pem", 5.0, 1)
    tls = netload.Way("h1-json-tls", "http-json", "1.1", True)
    path = netload._vegeta_targets(tls, "10.0.0.1:8443", req, str(tmp_path / "a.txt"))
    assert pathlib.Path(path).read_text() == (
        "POST https://10.0.0.1:8443/v1/predict\nContent-Type: application/json\n@/b/iris.json\n"
    )
    pb = netload.Way("h1-protobuf", "http-protobuf", "1.1", False)
    path = netload._vegeta_targets(pb, "10.0.0.1:8080", req, str(tmp_path / "b.txt"))
    assert pathlib.Path(path).read_text() == (
        "POST http://10.0.0.1:8080/v1/predict\nContent-Type: application/x-protobuf\n"
        "Accept: application/x-protobuf\n@/b/iris.pb\n"
    )
