"""The open-loop generators' output, parsed from recorded samples, and the command lines the bench
gives them. Latency is measured from when each request was due (coordinated omission corrected)."""

import dataclasses
import os

import pytest

from bench import config
from bench.analysis import parse
from bench.run import openloop
from bench.run.loadgen import Tools
from bench.settings import Settings

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
SCENARIOS = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "scenarios.yaml")
SETTINGS = dataclasses.replace(
    Settings.from_json(config.load(SCENARIOS, "full")).capacity,
    vegeta_workers=4,
    vegeta_max_workers=64,
    ghz_concurrency=4,
    ghz_connections=2,
    ghz_async=True,
)


def row(sent_ns, code, latency_ns, seq, error=""):
    return f"{sent_ns},{code},{latency_ns},0,23,{error},,,{seq},POST,http://127.0.0.1:1/v1/predict,"


def test_recorded_vegeta_sample():
    with open(os.path.join(FIXTURES, "vegeta_ok.csv"), encoding="utf-8") as fh:
        got = parse.parse_vegeta_csv(fh.read(), rate=100)
    assert (got.ok, got.errors, got.sent) == (100, 0, 100)
    assert got.latencies_ms == sorted(got.latencies_ms)
    assert 0.3 < got.latencies_ms[0] < got.latencies_ms[-1] < 10
    assert got.elapsed_s == pytest.approx(0.99, abs=0.02)  # 100 requests at 100/s


def test_a_late_send_counts_from_when_it_was_due():
    # 10/s: request 1 was due at 100 ms but sent at 150 ms and answered in 1 ms: 51 ms, not 1 ms.
    text = "\n".join(
        [row(0, 200, 1_000_000, 0), row(150_000_000, 200, 1_000_000, 1), row(200_000_000, 200, 1_000_000, 2)]
    )
    got = parse.parse_vegeta_csv(text, rate=10)
    assert got.latencies_ms == pytest.approx([1.0, 1.0, 51.0])
    assert got.lateness_ms == pytest.approx([0.0, 0.0, 50.0])


def test_errors_are_counted_by_kind_and_kept_out_of_latency():
    text = "\n".join(
        [
            row(0, 200, 1_000_000, 0),
            row(10_000_000, 503, 200_000, 1),
            row(
                20_000_000, 0, 5_000_000_000, 2, error='Post "http://127.0.0.1:1/v1/predict": context deadline exceeded'
            ),
        ]
    )
    got = parse.parse_vegeta_csv(text, rate=100)
    assert (got.ok, got.errors, got.requests) == (1, 2, 3)
    assert got.error_kinds == {"HTTP 503": 1, "context deadline exceeded": 1}
    assert got.latencies_ms == pytest.approx([1.0])


@pytest.mark.parametrize("text", ["not,a,vegeta,line", "1,200,x,0,0,,,,0"])
def test_other_text_is_refused(text):
    with pytest.raises(parse.ParseError, match="vegeta CSV line 1"):
        parse.parse_vegeta_csv(text, rate=10)


def test_nothing_sent():
    got = parse.parse_vegeta_csv("", rate=10)
    assert (got.ok, got.errors, got.sent) == (0, 0, 0)


def test_vegeta_targets_and_rate(tmp_path):
    body = tmp_path / "body.bin"
    body.write_bytes(b"\x0a\x03abc")
    target = openloop.Target("http-protobuf", "127.0.0.1:8080", str(body))
    targets = openloop.vegeta_targets(target, str(tmp_path))
    with open(targets, encoding="utf-8") as fh:
        text = fh.read().splitlines()
    assert text == [
        "POST http://127.0.0.1:8080/v1/predict",
        "Content-Type: application/x-protobuf",
        "Accept: application/x-protobuf",
        f"@{body}",
    ]
    tools = Tools(hey="hey", ghz="ghz", vegeta="vegeta", proto="p.proto", proto_root="proto")
    argv = openloop.vegeta_argv(tools, targets, 123.46, 3, 2, SETTINGS, "out.bin")
    assert "-rate=1235/10s" in argv  # a fractional rate is kept to 0.1 req/s
    assert "-duration=3s" in argv and "-timeout=2s" in argv


def test_ghz_is_asked_for_an_open_loop():
    tools = Tools(hey="hey", ghz="ghz", vegeta="vegeta", proto="p.proto", proto_root="proto")
    target = openloop.Target("grpc", "127.0.0.1:9000", "body.json")
    argv = openloop.ghz_argv(tools, target, 400, 3, 2, SETTINGS, 1)
    assert argv[argv.index("--rps") + 1] == "400"
    assert "--async" in argv and argv[-1] == "127.0.0.1:9000"


OPENLOOP_SAMPLE = """seq,due_ns,sent_ns,end_ns,code
0,0,4148,342362,OK
1,1000000,1455861,1926504,OK
2,2000000,2000100,2600100,RESOURCE_EXHAUSTED
3,3000000,9000000,9500000,OK
4,4000000,-1,-1,NOT_SENT
"""


def test_openloop_csv_latency_from_due():
    got = parse.parse_openloop_csv(OPENLOOP_SAMPLE)
    assert (got.ok, got.errors, got.sent) == (3, 2, 4)
    assert got.error_kinds == {"RESOURCE_EXHAUSTED": 1, "NOT_SENT": 1}
    # call 3 was due at 3 ms, sent at 9 ms, answered at 9.5 ms: 6.5 ms from due, not 0.5 ms
    assert got.latencies_ms == pytest.approx([0.342362, 0.926504, 6.5])
    assert got.lateness_ms[-1] == pytest.approx(6.0)
    assert got.elapsed_s == pytest.approx(0.0095)


def test_openloop_csv_without_its_header_is_refused():
    with pytest.raises(parse.ParseError, match="no header line"):
        parse.parse_openloop_csv("0,0,1,2,OK\n")


@pytest.mark.parametrize(
    ("protocol", "generator", "name"),
    [
        ("grpc", "openloop", "p1.openloop.csv"),
        ("grpc", "ghz", "p1.ghz.json"),
        ("http-json", "ghz", "p1.vegeta.csv"),
        ("v2-grpc", "ghz", "p1.ghz.json"),
        ("v2-http", "openloop", "p1.vegeta.csv"),
    ],
)
def test_raw_names_say_which_tool_wrote_them(protocol, generator, name):
    target = openloop.Target(protocol, "127.0.0.1:1", "body.json")
    assert openloop.raw_name("p1", target, dataclasses.replace(SETTINGS, grpc_generator=generator)) == name


def test_openloop_argv():
    tools = Tools(hey="hey", ghz="ghz", vegeta="vegeta", openloop="openloop", proto="p.proto", proto_root="proto")
    target = openloop.Target("grpc", "127.0.0.1:9000", "body.json")
    argv = openloop.openloop_argv(
        tools, target, 812.5, 2.5, 10, dataclasses.replace(SETTINGS, openloop_conns=4), "out.csv"
    )
    assert argv == [
        "openloop",
        "-addr",
        "127.0.0.1:9000",
        "-body",
        "body.json",
        "-rate",
        "812.5",
        "-duration",
        "2.5s",
        "-timeout",
        "10s",
        "-conns",
        "4",
        "-method",
        "Predict",
        "-out",
        "out.csv",
    ]


def test_openloop_calls_model_infer_at_a_v2_grpc_target_and_ghz_gets_the_v2_proto():
    tools = Tools(hey="hey", ghz="ghz", vegeta="vegeta", openloop="openloop", proto="p.proto", proto_root="proto")
    target = openloop.Target("v2-grpc", "127.0.0.1:9000", "infer.json", method="ModelInfer")
    argv = openloop.openloop_argv(tools, target, 100, 2.5, 10, SETTINGS, "out.csv")
    assert argv[argv.index("-method") + 1] == "ModelInfer"
    ghz = openloop.ghz_argv(tools, target, 100, 2.5, 10, SETTINGS, 1)
    assert ghz[ghz.index("--call") + 1] == "inference.GRPCInferenceService.ModelInfer"
    assert ghz[ghz.index("--proto") + 1] == "proto/inference/open_inference_grpc.proto"
    assert openloop.raw_name("p1", target, SETTINGS) == "p1.openloop.csv"
