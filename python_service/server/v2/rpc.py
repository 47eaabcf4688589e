"""The Open Inference Protocol's (KServe "V2") gRPC adapter: inference.GRPCInferenceService
(proto/inference/open_inference_grpc.proto) over the core predict.v1 uses, on serialized messages
(so that decode and encode are timed phases, as for Predict). It is registered on the same grpcio
server as PredictionService, thread-pool or asyncio (grpcapi/server.py), and listed by its
reflection; ModelInfer goes through the same admission bound and work slots as Predict
(grpcapi/service.Calls.admitted). Errors are the core's status codes (proto/inference/errors.json).
Every output is answered in raw_output_contents (model.json grpc_outputs). Go: internal/v2grpc.
"""

from time import perf_counter

import grpc
import numpy as np
from google.protobuf.message import DecodeError

from python_service.gen.inference import open_inference_grpc_pb2 as pb
from python_service.server.core.errors import PredictError, quote
from python_service.server.core.predictor import Timing
from python_service.server.grpcapi import service
from python_service.server.v2 import infer
from python_service.server.v2.infer import Requested

_C = grpc.StatusCode
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
_LIVE = pb.ServerLiveResponse(live=True).SerializeToString()
_SERVER_METADATA = pb.ServerMetadataResponse(
    name=infer.SERVER["name"], version=infer.SERVER["version"], extensions=infer.SERVER["extensions"]
).SerializeToString()


def _parse(message_type, data):
    try:
        return message_type.FromString(data)
    except DecodeError as e:
        raise PredictError(_C.INVALID_ARGUMENT, "invalid request protobuf: %s" % e) from None


class InferenceCalls:
    """GRPCInferenceService over the predictor of `calls` (grpcapi/service.Calls, whose admission
    and work slots ModelInfer shares with Predict), on serialized messages."""

    def __init__(self, calls):
        self.calls = calls
        self.predictor = calls.predictor
        self.recorder = calls.recorder

    def table(self):
        """RPC name → (metrics method or None: not counted, handle(request bytes, context))."""
        return {
            "ServerLive": (None, lambda data, context: _LIVE),
            "ServerReady": (None, self.server_ready),
            "ModelReady": (None, self.model_ready),
            "ServerMetadata": (None, lambda data, context: _SERVER_METADATA),
            "ModelMetadata": ("ModelMetadata", self.model_metadata),
            "ModelInfer": ("ModelInfer", lambda data, context: self.calls.admitted(self.infer, data, context)),
        }

    def server_ready(self, data, context):
        """True once every model is loaded, false before and while shutting down."""
        return pb.ServerReadyResponse(ready=self.predictor.ready).SerializeToString()

    def model_ready(self, data, context):
        """True for a served model (and version) while the server is ready, false while it is not;
        an unknown model or version is NOT_FOUND."""
        request = _parse(pb.ModelReadyRequest, data)
        try:
            self.predictor.get_model_version(request.name, request.version)
        except PredictError as e:
            if e.code != _C.UNAVAILABLE:
                raise
            return pb.ModelReadyResponse(ready=False).SerializeToString()
        return pb.ModelReadyResponse(ready=self.predictor.ready).SerializeToString()

    def model_metadata(self, data, context):
        """A model's input and outputs (proto/inference/model.json)."""
        request = _parse(pb.ModelMetadataRequest, data)
        info = self.predictor.get_model_version(request.name, request.version)
        meta = infer.metadata(info)
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=meta["name"],
            versions=meta["versions"],
            platform=meta["platform"],
            inputs=[tensor(**t) for t in meta["inputs"]],
            outputs=[tensor(**t) for t in meta["outputs"]],
            properties=meta["properties"],
        ).SerializeToString()

    def infer(self, data, time_remaining):
        """An admitted ModelInfer's work: decode, the core, encode."""
        timing = Timing()
        started = perf_counter()
        request = _parse(pb.ModelInferRequest, data)
        batch, selected = self._decode(request)
        timing.decode = perf_counter() - started
        answer = self.predictor.infer(batch, time_remaining, timing)
        encoding = perf_counter()
        response = pb.ModelInferResponse(
            model_name=answer.model.name, model_version=answer.model.version, id=request.id
        )
        for t in infer.tensors(answer, selected):
            response.outputs.add(name=t.name, datatype=t.datatype, shape=t.shape)
            response.raw_output_contents.append(t.raw())
        out = response.SerializeToString()
        timing.encode += perf_counter() - encoding
        timing.record(self.recorder)
        return out

    def _decode(self, request):
        """(Batch, selected outputs) of a ModelInferRequest. In order: ready, the model and version
        (NOT_FOUND), the inputs (infer.check_input), raw_input_contents against the inputs
        (errors.json bad_raw_contents), the input's data (fp32_contents, or its raw contents), the
        outputs (infer.select; REST's binary_data parameters mean nothing here), the core's rows and
        the data's length."""
        predictor = self.predictor
        predictor.check_ready()
        info = predictor.get_model_version(request.model_name, request.model_version)
        inputs = request.inputs
        first = inputs[0] if inputs else pb.ModelInferRequest.InferInputTensor()
        rows, cols = infer.check_input(info, len(inputs), first.name, first.datatype, list(first.shape))
        raw = request.raw_input_contents
        if raw and first.HasField("contents"):
            raise PredictError(
                _C.INVALID_ARGUMENT,
                "input %s has contents, but the request has raw_input_contents: use one or the other"
                % quote(first.name),
            )
        if raw and len(raw) != len(inputs):
            raise PredictError(_C.INVALID_ARGUMENT, "%d raw_input_contents for %d inputs" % (len(raw), len(inputs)))
        if raw:
            values = infer.fp32_from_raw(raw[0], rows * cols, "raw_input_contents[0]")
        else:
            contents = first.contents.fp32_contents
            values = np.fromiter(contents, dtype=np.float32, count=len(contents))
        requested = [Requested(o.name, classification="classification" in o.parameters) for o in request.outputs]
        selected = infer.select(info, requested)
        return infer.batch(predictor, info, rows, cols, values), selected


def register(server, calls, aio=False):
    """Add GRPCInferenceService to a grpcio (thread-pool, or with `aio` asyncio) server, over the
    predictor, admission and work slots of `calls` (grpcapi/service.Calls)."""
    handlers = service.unary_handlers(calls, InferenceCalls(calls).table(), aio)
    service.register(server, handlers, SERVICE_NAME)
