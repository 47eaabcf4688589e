"""The gRPC adapter: a real server process for the contract, errors, health and reflection; an
in-process grpcio server (port 0) for the rows a live process cannot be made to show on demand
(not ready, inference failure)."""

import concurrent.futures
import math
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from python_service.gen.predict.v1 import predict_pb2, predict_pb2_grpc
from python_service.server.core import metrics
from python_service.server.core.predictor import Predictor
from python_service.server.core.repository import load_repository
from python_service.server.grpcapi import service as grpc_service
from python_service.server.grpcapi.server import SERVICE_NAME, GrpcServer
from tests.python.grpc_fakes import Aborted, Context
from tests.python.pyservice_harness import SETOSA, predict_request

C = grpc.StatusCode
NAN, INF = math.nan, math.inf


def iris(*rows):
    return predict_request("iris-logreg", rows)


def test_seed_example_is_setosa(server):
    response = server.stub.Predict(iris(SETOSA), timeout=10)
    (prediction,) = response.predictions
    assert (response.model, response.model_version) == ("iris-logreg", "1")
    assert (prediction.label, prediction.class_index) == ("setosa", 0)
    assert len(prediction.probabilities) == 3


def test_regressor_value(server):
    response = server.stub.Predict(predict_request("diabetes-gbr", [[0.0] * 10, [0.05] * 10]), timeout=10)
    assert [p.HasField("value") for p in response.predictions] == [True, True]
    assert not any(p.label or p.probabilities for p in response.predictions)


# (id, request, code, words in the details) — every row of the table that a client can cause.
ERROR_TABLE = [
    ("empty model name", predict_request("", [SETOSA]), C.INVALID_ARGUMENT, "model name"),
    ("unknown model", predict_request("nope", [SETOSA]), C.NOT_FOUND, "nope"),
    ("no instances", iris(), C.INVALID_ARGUMENT, "no instances"),
    ("batch over max", iris(*[SETOSA] * 1025), C.INVALID_ARGUMENT, "1024"),
    ("wrong feature count", iris([1.0, 2.0, 3.0]), C.INVALID_ARGUMENT, "instance 0"),
    ("ragged rows", iris(SETOSA, [1.0] * 5), C.INVALID_ARGUMENT, "instance 1"),
    ("NaN", iris([1.0, NAN, 1.0, 1.0]), C.INVALID_ARGUMENT, "instance 0 feature 1"),
    ("+Inf", iris(SETOSA, [1.0, 1.0, INF, 1.0]), C.INVALID_ARGUMENT, "instance 1 feature 2"),
    ("-Inf", iris([-INF, 1.0, 1.0, 1.0]), C.INVALID_ARGUMENT, "instance 0 feature 0"),
    ("message over 4 MiB", iris([1.0] * 1100000), C.RESOURCE_EXHAUSTED, ""),
]


@pytest.mark.parametrize("request_, code, words", [c[1:] for c in ERROR_TABLE], ids=[c[0] for c in ERROR_TABLE])
def test_error_table(server, request_, code, words):
    with pytest.raises(grpc.RpcError) as err:
        server.stub.Predict(request_, timeout=30)
    assert err.value.code() == code
    assert words in err.value.details()


def test_expired_deadline(server):
    with pytest.raises(grpc.RpcError) as err:
        server.stub.Predict(iris(SETOSA), timeout=-1)
    assert err.value.code() == C.DEADLINE_EXCEEDED


def test_handler_passes_the_deadline_to_the_core(models_dir):
    calls = grpc_service.Calls(Predictor(load_repository(models_dir)), metrics.NO_METRICS)
    predict = grpc_service.handlers(calls)["Predict"].unary_unary
    answer = predict_pb2.PredictResponse.FromString(predict(iris(SETOSA).SerializeToString(), Context(None)))
    assert answer.predictions[0].label == "setosa"
    with pytest.raises(Aborted) as err:
        predict(iris(SETOSA).SerializeToString(), Context(0.0))
    assert err.value.args == (C.DEADLINE_EXCEEDED, "deadline exceeded")


class _SlowPredictor:
    """A predictor whose predict waits for `release`, counting how many run at once."""

    def __init__(self, answer):
        self.answer, self.release = answer, threading.Event()
        self.running = self.most = 0
        self.lock = threading.Lock()

    def infer(self, request, time_remaining=None, timing=None):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.release.wait(5)
        with self.lock:
            self.running -= 1
        return self.answer


def test_work_slots_bound_the_calls_doing_cpu_work(models_dir):
    """With one work slot, concurrent Predict calls run their work one at a time; all answered."""
    answer = Predictor(load_repository(models_dir))
    slow = _SlowPredictor(answer.infer(iris(SETOSA)))
    calls = grpc_service.Calls(slow, metrics.NO_METRICS, work_slots=1)
    data = iris(SETOSA).SerializeToString()
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(calls.predict, data) for _ in range(3)]
        time.sleep(0.2)
        slow.release.set()
        answers = [predict_pb2.PredictResponse.FromString(f.result(5)) for f in futures]
    assert slow.most == 1
    assert [a.predictions[0].label for a in answers] == ["setosa"] * 3


def test_list_and_get_model(server):
    names = [m.name for m in server.stub.ListModels(predict_pb2.ListModelsRequest()).models]
    assert names == ["breast-cancer-rf", "diabetes-gbr", "digits-mlp", "iris-logreg"]
    info = server.stub.GetModel(predict_pb2.GetModelRequest(name="digits-mlp"))
    assert (info.n_features, len(info.class_labels)) == (64, 10)
    for name, code in (("", C.INVALID_ARGUMENT), ("nope", C.NOT_FOUND)):
        with pytest.raises(grpc.RpcError) as err:
            server.stub.GetModel(predict_pb2.GetModelRequest(name=name))
        assert err.value.code() == code


@pytest.mark.parametrize("service", ["", SERVICE_NAME])
def test_health_serving(server, service):
    response = health_pb2_grpc.HealthStub(server.channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=5
    )
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_service(server):
    stub = reflection_pb2_grpc.ServerReflectionStub(server.channel)
    (answer,) = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    names = {s.name for s in answer.list_services_response.service}
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names
    # ghz asks for the method's full name, grpcurl for the service's.
    for symbol in (SERVICE_NAME, SERVICE_NAME + ".Predict", "predict.v1.PredictRequest"):
        (answer,) = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)]), timeout=5
        )
        assert answer.file_descriptor_response.file_descriptor_proto, symbol
    for symbol in (SERVICE_NAME + ".Nope", "nope.Service.Method", "Predict"):
        (answer,) = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)]), timeout=5
        )
        assert answer.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0], symbol


# ---- in-process server: rows that need a predictor in a given state ----------------------


@pytest.fixture
def in_process(models_dir):
    """(predictor, stub) for a GrpcServer in this process on a free port."""
    predictor = Predictor(load_repository(models_dir))
    server = GrpcServer(predictor, "127.0.0.1:0", max_message=4194304)
    server.start()
    channel = grpc.insecure_channel("127.0.0.1:%d" % server.port)
    yield predictor, channel
    channel.close()
    server.stop(0).wait(5)


def test_not_ready_is_unavailable(in_process):
    predictor, channel = in_process
    predictor.drain()
    with pytest.raises(grpc.RpcError) as err:
        predict_pb2_grpc.PredictionServiceStub(channel).Predict(iris(SETOSA), timeout=10)
    assert err.value.code() == C.UNAVAILABLE


@pytest.mark.parametrize(
    "rpc, request_",
    [
        ("Predict", iris(SETOSA)),
        ("ListModels", predict_pb2.ListModelsRequest()),
        ("GetModel", predict_pb2.GetModelRequest(name="iris-logreg")),
    ],
)
def test_every_rpc_is_unavailable_while_loading(rpc, request_):
    server = GrpcServer(Predictor(), "127.0.0.1:0", max_message=4194304)  # no models loaded yet
    server.start()
    try:
        with grpc.insecure_channel("127.0.0.1:%d" % server.port) as channel:
            stub = predict_pb2_grpc.PredictionServiceStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                getattr(stub, rpc)(request_, timeout=10)
        assert err.value.code() == C.UNAVAILABLE, err.value.details()
    finally:
        server.stop(0).wait(5)


class _BrokenSession:
    def run(self, *args, **kwargs):
        raise RuntimeError("secret detail")


def test_inference_failure_is_internal(in_process):
    predictor, channel = in_process
    predictor._models["iris-logreg"].session = _BrokenSession()
    with pytest.raises(grpc.RpcError) as err:
        predict_pb2_grpc.PredictionServiceStub(channel).Predict(iris(SETOSA), timeout=10)
    assert (err.value.code(), err.value.details()) == (C.INTERNAL, "internal error")


def test_health_not_serving_while_draining(models_dir):
    predictor = Predictor(load_repository(models_dir))
    server = GrpcServer(predictor, "127.0.0.1:0", max_message=4194304)
    server.start()
    with grpc.insecure_channel("127.0.0.1:%d" % server.port) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=10
        )
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        predictor.drain()
        server.drain()
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert check.status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.RpcError) as err:  # still answering, but refusing predictions
            predict_pb2_grpc.PredictionServiceStub(channel).Predict(iris(SETOSA), timeout=10)
        assert err.value.code() == C.UNAVAILABLE
        stopped = server.stop(5)
        watch.cancel()
    assert stopped.wait(10)
