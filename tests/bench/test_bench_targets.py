"""--target NAME=PROTO://HOST:PORT: what the bench reads from it (bench.run.targets)."""

import pytest

from bench.__main__ import parse_args, targets_from
from bench.run import targets


def test_protocols_and_transports():
    t = targets.parse("go=grpc-stream://10.0.0.5:50052")
    assert (t.name, t.proto, t.address, t.transport, t.protocols) == (
        "go",
        "grpc-stream",
        "10.0.0.5:50052",
        "grpc",
        ("grpc-stream",),
    )
    assert targets.parse("py=http://h.example:5000").protocols == ("http-json", "http-protobuf", "v2-http")
    assert targets.parse("py=grpc://[::1]:50051").protocols == ("grpc",)  # unary: grpc-stream is its own
    assert targets.parse("py=metrics://pod-1.svc:9090").transport == "metrics"


@pytest.mark.parametrize(
    "text",
    ["go", "go=grpc", "=grpc://h:1", "go=tcp://h:1", "go=grpc://h", "go=grpc://h:port", "go=grpc://h:1/x", "go=://h:1"],
)
def test_refused(text):
    with pytest.raises(targets.TargetError):
        targets.parse(text)


def test_grouped_by_name_metrics_on_the_http_address_unless_given():
    grouped = targets.group(
        [
            targets.parse("go=http-json://h:8080"),
            targets.parse("go=grpc://h:50052"),
            targets.parse("py=grpc://p:50051"),
            targets.parse("py=metrics://p:9100"),
        ]
    )
    assert grouped["go"].endpoints == {"http": "h:8080", "grpc": "h:50052", "metrics": "h:8080"}
    assert grouped["go"].protocols == {"http-json", "grpc"}
    assert grouped["py"].endpoints == {"grpc": "p:50051", "metrics": "p:9100"}
    with pytest.raises(targets.TargetError, match="two addresses"):
        targets.group([targets.parse("go=http-json://h:1"), targets.parse("go=http-protobuf://h:2")])


def test_command_line():
    """--go-grpc ADDR (and the like) names the whole listener: every protocol on it."""
    args = parse_args(["--target", "go=http-json://h:8080", "--go-grpc", "h:50052", "--server-pid", "go=42"])
    grouped, pids = targets_from(args)
    assert grouped["go"].endpoints == {"http": "h:8080", "grpc": "h:50052", "metrics": "h:8080"}
    assert grouped["go"].protocols == {"http-json", "grpc", "grpc-stream", "v2-grpc"}
    assert pids == {"go": 42}
