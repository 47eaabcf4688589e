"""The core predict path, shared by the gRPC and HTTP adapters.

`Predictor` holds one ONNX Runtime session per model, created once at start from verified
repository entries. `predict(request)` takes a `predict.v1.PredictRequest` message, validates it
in the order the brief fixes (ready → model → instances → batch size → row widths → finite values
→ deadline), builds one float32 tensor, fetches only the output it needs and shapes a
`PredictResponse`. Every refusal is a `PredictError` carrying a gRPC status code; each adapter maps
that code to its protocol once.
"""

import logging
import threading
from time import perf_counter

import grpc
import numpy as np
import onnxruntime as ort

from python_service.gen.predict.v1 import predict_pb2
from python_service.server.core.errors import PredictError, quote

log = logging.getLogger("python_service.server.core.predictor")


class _Model:
    """One loaded model: its session and what the predict path needs from its metadata."""

    def __init__(self, entry, options):
        meta = entry.metadata
        self.name = entry.name
        self.version = entry.version
        self.n_features = meta["n_features"]
        self.input_name = meta["input_name"]
        self.classifier = meta["task"] == "classification"
        self.output_name = meta["probabilities_output" if self.classifier else "value_output"]
        self.class_labels = tuple(meta["class_labels"])
        self.fetch = [self.output_name]
        try:
            self.session = ort.InferenceSession(
                entry.model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:
            raise ValueError("%s/model.onnx: %s" % (entry.directory, e)) from e
        self._check_signature(entry)
        self.info = predict_pb2.ModelInfo(
            name=self.name,
            version=self.version,
            task=meta["task"],
            input_name=self.input_name,
            n_features=self.n_features,
            class_labels=self.class_labels,
            output_names=meta["output_names"],
            sha256=meta["sha256"].lower(),
            opset=meta["opset"],
        )

    def _check_signature(self, entry):
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name: o for o in self.session.get_outputs()}
        where = "%s/model.onnx" % entry.directory
        if self.input_name not in inputs or inputs[self.input_name].type != "tensor(float)":
            raise ValueError("%s: no float tensor input named %r" % (where, self.input_name))
        out = outputs.get(self.output_name)
        if out is None or out.type != "tensor(float)":
            raise ValueError("%s: no float tensor output named %r" % (where, self.output_name))
        width = out.shape[-1] if len(out.shape) == 2 else None
        expected = len(self.class_labels) if self.classifier else 1
        if isinstance(width, int) and width != expected:
            raise ValueError(
                "%s: output %r has %d columns, metadata implies %d" % (where, self.output_name, width, expected)
            )


def session_options(intra_op_threads=1, inter_op_threads=1):
    """The ONNX Runtime session options every Python user of a model shares (the server, the
    export parity check, the bench's parity reference and in-process timing)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


class Timing:
    """Seconds spent in each phase of one predict request (metrics.json): the core fills tensor,
    inference and the shaping part of encode; the adapter adds decode and serialization, then
    records each phase once."""

    __slots__ = ("decode", "encode", "inference", "tensor")

    def __init__(self):
        self.decode = self.tensor = self.inference = self.encode = 0.0

    def record(self, recorder):
        if recorder.enabled:
            recorder.phase("decode", self.decode)
            recorder.phase("tensor", self.tensor)
            recorder.phase("inference", self.inference)
            recorder.phase("encode", self.encode)


def _tensor(request, model):
    """Validation step 5 (every row has n_features values) and the float32 input tensor, of a
    PredictRequest's instances or of a decoded `Batch` (whose rows are already one float32 array)."""
    width = model.n_features
    tensor = getattr(request, "tensor", None)
    if tensor is not None:
        if tensor.shape[1] != width:
            raise PredictError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "instance 0 has %d features; model %s expects %d" % (tensor.shape[1], quote(model.name), width),
            )
        return tensor
    instances = request.instances
    for i, instance in enumerate(instances):
        if len(instance.features) != width:
            raise PredictError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "instance %d has %d features; model %s expects %d"
                % (i, len(instance.features), quote(model.name), width),
            )
    if len(instances) == 1:
        return np.array(instances[0].features, dtype=np.float32).reshape(1, width)
    return np.array([instance.features for instance in instances], dtype=np.float32)


class Batch:
    """A predict request decoded straight to its input tensor (core/codec.py's JSON fast path): the
    model name and the rows as one float32 array of shape (rows, features)."""

    __slots__ = ("model", "tensor")

    def __init__(self, model, tensor):
        self.model, self.tensor = model, tensor

    @property
    def rows(self):
        return self.tensor.shape[0]


class Answer:
    """What the core answers a predict request with, before any encoding: the model and its output
    (probabilities, rows × classes, for a classifier; values, rows × 1, for a regressor)."""

    __slots__ = ("model", "output")

    def __init__(self, model, output):
        self.model, self.output = model, output

    def message(self):
        """The answer as a predict.v1.PredictResponse."""
        model, output = self.model, self.output
        Prediction = predict_pb2.Prediction
        if model.classifier:
            labels = model.class_labels
            predictions = [
                Prediction(label=labels[index], class_index=index, probabilities=probabilities)
                for probabilities, index in zip(output.tolist(), output.argmax(axis=1).tolist())
            ]
        else:
            predictions = [Prediction(value=value) for value in output[:, 0].tolist()]
        return predict_pb2.PredictResponse(model=model.name, model_version=model.version, predictions=predictions)


class Predictor:
    """Every model of a repository, loaded once; thread-safe (ORT sessions allow concurrent run).

    At most `inference_slots` ONNX Runtime calls run at once (more than the CPUs only adds
    switching); other callers wait their turn, a wait bounded by the adapters' admission bound."""

    def __init__(self, entries=None, *, intra_op_threads=1, inter_op_threads=1, max_batch=1024, inference_slots=1):
        """With `entries`, every model is loaded here; with None, the predictor starts empty and
        not ready (answering UNAVAILABLE) until `load(entries)` — so a server can listen, and
        say "not ready", while its models load."""
        self._options = session_options(intra_op_threads, inter_op_threads)
        self.max_batch = max_batch
        self._slots = threading.BoundedSemaphore(inference_slots)
        self._models = {}
        self._ready = False
        self._loaded = False
        self._draining = False
        # The most values a valid request carries, counting each feature and one per instance:
        # max_batch × (the widest model's n_features + 1); None before load. An adapter whose
        # decoding costs per value (JSON) refuses a body holding more before decoding it.
        self.value_bound = None
        if entries is not None:
            self.load(entries)

    def load(self, entries):
        """Load every model (an ORT session each), then become ready unless already draining."""
        models = {entry.name: _Model(entry, self._options) for entry in entries}
        self._models = models
        self.value_bound = self.max_batch * (max((m.n_features for m in models.values()), default=0) + 1)
        self._loaded = True
        self._ready = not self._draining

    # Readiness: true once every model is loaded, false for good after drain().
    @property
    def ready(self):
        return self._ready

    def drain(self):
        """Refuse new predictions with UNAVAILABLE from now on (shutting down)."""
        self._draining = True
        self._ready = False

    def _require_loaded(self):
        if not self._loaded:
            raise PredictError(grpc.StatusCode.UNAVAILABLE, "server is not ready (loading models)")

    def list_models(self):
        self._require_loaded()
        return predict_pb2.ListModelsResponse(models=[self._models[name].info for name in sorted(self._models)])

    def get_model(self, name):
        self._require_loaded()
        return self._model(name).info

    def get_model_version(self, name, version=""):
        """get_model, where a non-empty `version` must be the one served (else NOT_FOUND): the
        Open Inference Protocol names versions (proto/predict/v1/versions.json: one per model)."""
        self._require_loaded()
        model = self._model(name)
        if version and version != model.version:
            raise PredictError(
                grpc.StatusCode.NOT_FOUND,
                "unknown version %s of model %s (it serves version %s)"
                % (quote(version), quote(name), quote(model.version)),
            )
        return model.info

    def check_ready(self):
        """Validation step 1: UNAVAILABLE unless ready (loading models, or shutting down)."""
        if not self._ready:
            raise PredictError(
                grpc.StatusCode.UNAVAILABLE,
                "server is not ready (%s)" % ("shutting down" if self._draining else "loading models"),
            )

    def check_rows(self, rows):
        """Validation step 3: at least one row, at most max_batch."""
        if rows == 0:
            raise PredictError(grpc.StatusCode.INVALID_ARGUMENT, "no instances")
        if rows > self.max_batch:
            raise PredictError(
                grpc.StatusCode.INVALID_ARGUMENT, "%d instances exceed the maximum batch of %d" % (rows, self.max_batch)
            )

    def _model(self, name):
        if not name:
            raise PredictError(grpc.StatusCode.INVALID_ARGUMENT, "model name is required")
        model = self._models.get(name)
        if model is None:
            raise PredictError(grpc.StatusCode.NOT_FOUND, "unknown model %s" % quote(name))
        return model

    def predict(self, request, time_remaining=None, timing=None):
        """Answer one PredictRequest with a PredictResponse (see `infer`; the shaping counts as
        encode time)."""
        answer = self.infer(request, time_remaining, timing)
        shaping = perf_counter()
        response = answer.message()
        if timing is not None:
            timing.encode += perf_counter() - shaping
        return response

    def infer(self, request, time_remaining=None, timing=None):
        """The Answer to one request (a PredictRequest, or a Batch). `time_remaining`, when given,
        returns the seconds left before the caller's deadline (or None for no deadline), as grpc's
        context does; `timing` (a Timing), when given, receives the tensor and inference times."""
        self.check_ready()
        started = perf_counter()
        model = self._model(request.model)
        rows = request.rows if isinstance(request, Batch) else len(request.instances)
        self.check_rows(rows)
        tensor = _tensor(request, model)
        if not np.isfinite(tensor).all():
            row, col = np.argwhere(~np.isfinite(tensor))[0]
            raise PredictError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "instance %d feature %d is not finite (%s)" % (row, col, tensor[row, col]),
            )
        if time_remaining is not None:
            left = time_remaining()
            if left is not None and left <= 0:
                raise PredictError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
        try:
            with self._slots:
                ran = perf_counter()
                output = model.session.run(model.fetch, {model.input_name: tensor})[0]
                done = perf_counter()
            _check_output(model, output, rows)
        except Exception:
            log.exception("inference failed for model %r (batch %d)", model.name, rows)
            raise PredictError(grpc.StatusCode.INTERNAL, "internal error") from None
        if timing is not None:
            timing.tensor += ran - started
            timing.inference += done - ran
        return Answer(model, output if model.classifier else output.reshape(rows, -1))


def _check_output(model, output, rows):
    """An output of the shape the model's metadata promises, else ValueError (a bug: INTERNAL)."""
    if output.shape[0] != rows:
        raise ValueError("output %r has %d rows for %d instances" % (model.output_name, output.shape[0], rows))
    if model.classifier and (output.ndim != 2 or output.shape[1] != len(model.class_labels)):
        raise ValueError(
            "output %r has shape %s for %d classes" % (model.output_name, output.shape, len(model.class_labels))
        )
