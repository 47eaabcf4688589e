"""gRPC admission on both grpcio servers: at most --max-inflight calls run or wait in a worker; the
next ones are refused at once with RESOURCE_EXHAUSTED by grpcio itself (`maximum_concurrent_rpcs`:
its message is grpcio's, and there is no RetryInfo — see proto/predict/v1/README.md), and the
server keeps answering after. The asyncio server takes in one new call per loop turn and runs each
to its end on the loop, so overlapping calls mostly wait their turn there instead: for it only
"OK or RESOURCE_EXHAUSTED, never anything else" is guaranteed."""

import concurrent.futures

import grpc
import pytest

from python_service.gen.predict.v1 import predict_pb2_grpc
from tests.python.pyservice_harness import SETOSA, predict_request

pytestmark = pytest.mark.process
# breast-cancer-rf with 1,024 rows: each call is long enough (tens of ms) for calls to overlap
HEAVY = predict_request("breast-cancer-rf", [[0.5] * 30] * 1024)


@pytest.mark.parametrize("stack", ["sync", "aio"])
def test_calls_over_the_bound_are_refused_at_once(start_server, stack):
    server = start_server("--grpc-server", stack, "--max-inflight", "2", http_addr="")
    channels = [grpc.insecure_channel(server.grpc, options=[("grpc.channel_id", i)]) for i in range(4)]
    try:
        stubs = [predict_pb2_grpc.PredictionServiceStub(ch) for ch in channels]
        with concurrent.futures.ThreadPoolExecutor(24) as pool:
            calls = [pool.submit(stub.Predict, HEAVY, timeout=30) for stub in stubs for _ in range(6)]
            codes = []
            for call in calls:
                try:
                    call.result()
                    codes.append(grpc.StatusCode.OK)
                except grpc.RpcError as e:
                    codes.append(e.code())
        if stack == "sync":
            assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes, "24 overlapping heavy calls never exceeded a bound of 2"
        assert grpc.StatusCode.OK in codes and set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
        answer = stubs[0].Predict(predict_request("iris-logreg", [SETOSA]), timeout=10)
        assert answer.predictions[0].label == "setosa"
    finally:
        for ch in channels:
            ch.close()
    assert server.stop() == 0, server.log()
