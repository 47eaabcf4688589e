"""Null servers: the floor of each stack the bench runs (bench/README.md "Floors").

Each is a real server of its stack — the same framework, host, event loop and settings as the
service built on it — that answers every predict call (gRPC Predict and PredictStream, HTTP POST to
any path) with one constant, minimal valid PredictResponse, without parsing the request: what a
request costs on that stack before any of the service's own work. The bench starts them like the
servers (port 0, pinned to the server CPUs) and measures them interleaved with them.

- grpcio_server: grpcio's thread-pool server (sync) or its asyncio server (`--aio`).
- granian_server: granian's RSGI interface on uvloop, HTTP/1.1.
- grpc-go and Go net/http: bench/toy/go (its -grpc-addr null server, and the seed's toy handler).
"""

# The answer every null server gives: an empty PredictResponse (every field at its default) is the
# smallest valid one, as protobuf (no bytes) and as JSON.
ANSWER_PROTOBUF = b""
ANSWER_JSON = b"{}"
