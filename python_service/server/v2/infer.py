"""What the Open Inference Protocol's (KServe "V2") adapters share, rest.py (REST: JSON and binary
tensor data) and rpc.py (inference.GRPCInferenceService): how a model is presented
(proto/inference/model.json: its input and outputs, named, typed and shaped), the checks of a
request's tensor and requested outputs, the core's `Batch` built from the input's values, and the
output tensors built from the core's `Answer`, with their binary encoding. It knows no wire format:
each adapter decodes its own into these terms and encodes the answer back (Go: internal/v2infer).
"""

import functools
import struct

import grpc
import numpy as np

from python_service import contract
from python_service.server.core.errors import PredictError, quote
from python_service.server.core.predictor import Batch

_C = grpc.StatusCode
_MODEL = contract.load("model.json", contract.INFERENCE_DIR)
SERVER = _MODEL["server"]  # {"name", "version", "extensions"}: the server metadata
PLATFORM = _MODEL["platform"]
PROPERTIES = tuple(_MODEL["properties"])  # ModelInfo fields named in the model metadata
(_INPUT,) = _MODEL["inputs"]
# The tensor datatypes the server reads or writes (the specification's Tensor Data Types).
FP32, INT32, BYTES = "FP32", "INT32", "BYTES"
BATCH = -1  # the variable dimension of a shape: the rows
# model.json raw_encoding: little-endian, row-major.
_RAW = {FP32: np.dtype("<f4"), INT32: np.dtype("<i4")}
_SHAPE_TEXT_MAX = 64


class TensorMeta:
    """A tensor's name, datatype and shape (-1: the batch)."""

    __slots__ = ("datatype", "name", "shape")

    def __init__(self, name, datatype, shape):
        self.name, self.datatype, self.shape = name, datatype, shape

    def as_dict(self):
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape}


def _dims(shape, info):
    """A model.json shape with its names resolved for a model."""
    named = {"n_features": info.n_features, "n_classes": len(info.class_labels)}
    return [named[d] if isinstance(d, str) else d for d in shape]


def input_meta(info):
    """A model's one input (info: its predict.v1 ModelInfo): metadata.json input_name, FP32
    [-1, n_features]."""
    return TensorMeta(info.input_name, _INPUT["datatype"], _dims(_INPUT["shape"], info))


def outputs(info):
    """A model's outputs, in model.json's order: a classifier's label, class_index and
    probabilities, or a regressor's value."""
    return [TensorMeta(o["name"], o["datatype"], _dims(o["shape"], info)) for o in _MODEL["outputs"][info.task]]


def properties(info):
    """The model metadata's properties (model.json "properties")."""
    return {key: getattr(info, key).lower() if key == "sha256" else getattr(info, key) for key in PROPERTIES}


def metadata(info):
    """The model metadata ($metadata_model_response) as a dict."""
    return {
        "name": info.name,
        "versions": [info.version],
        "platform": PLATFORM,
        "inputs": [input_meta(info).as_dict()],
        "outputs": [o.as_dict() for o in outputs(info)],
        "properties": properties(info),
    }


def shape_text(shape):
    """A shape as the specification writes it ([2,4]), cut when long (it is the client's)."""
    text = "[%s]" % ",".join(str(d) for d in shape[: _SHAPE_TEXT_MAX // 2])
    return text if len(text) <= _SHAPE_TEXT_MAX else "%s… (%d dimensions)" % (text[:_SHAPE_TEXT_MAX], len(shape))


def check_input(info, count, name, datatype, shape):
    """(rows, cols) of a request's inputs, checked against the model's one input (errors.json
    invalid_input): exactly one, named as the model's input, FP32, shape [rows, n_features] with
    rows ≥ 0. The core checks the rest (rows within --max-batch, the values finite)."""
    want = input_meta(info)

    def refuse(message):
        raise PredictError(_C.INVALID_ARGUMENT, message)

    if count != 1:
        refuse("model %s takes exactly one input (%s), got %d" % (quote(info.name), quote(want.name), count))
    if name != want.name:
        refuse("unknown input %s: model %s takes one input, %s" % (quote(name), quote(info.name), quote(want.name)))
    if datatype != want.datatype:
        refuse(
            "input %s has datatype %s, model %s expects %s"
            % (quote(want.name), quote(datatype), quote(info.name), want.datatype)
        )
    if len(shape) != 2 or not 0 <= shape[0] <= 0x7FFFFFFF or shape[1] != want.shape[1]:
        refuse(
            "input %s has shape %s, model %s expects %s"
            % (quote(want.name), shape_text(shape), quote(info.name), shape_text([BATCH, want.shape[1]]))
        )
    return shape[0], shape[1]


class Requested:
    """An output a request names, with what its parameters ask: `binary` (REST: answer it as binary
    data), `classification` (Triton's classification extension, not served: refused)."""

    __slots__ = ("binary", "classification", "name")

    def __init__(self, name, binary=False, classification=False):
        self.name, self.binary, self.classification = name, binary, classification


def select(info, requested, all_binary=False):
    """The outputs to answer, as [(TensorMeta, binary)] (errors.json invalid_output): every output
    of the model, in model.json's order, when none is named (each binary when `all_binary`); else
    those named, in the request's order. An unknown name, a name given twice, or the classification
    parameter is INVALID_ARGUMENT."""
    metas = outputs(info)
    if not requested:
        return [(m, all_binary) for m in metas]
    by_name = {m.name: m for m in metas}
    chosen = []
    for r in requested:
        meta = by_name.get(r.name)
        if meta is None:
            names = ", ".join(quote(m.name) for m in metas)
            raise PredictError(
                _C.INVALID_ARGUMENT, "unknown output %s: model %s has %s" % (quote(r.name), quote(info.name), names)
            )
        if r.classification:
            raise PredictError(
                _C.INVALID_ARGUMENT,
                "output %s: the classification parameter (Triton's classification extension) is not supported"
                % quote(r.name),
            )
        if any(m.name == r.name for m, _ in chosen):
            raise PredictError(_C.INVALID_ARGUMENT, "output %s requested twice" % quote(r.name))
        chosen.append((meta, r.binary))
    return chosen


def batch(predictor, info, rows, cols, values):
    """The core's Batch of `values` (float32, row-major) for [rows, cols], after the core's row
    checks (at least one, at most --max-batch) and the data's length (errors.json invalid_input)."""
    predictor.check_rows(rows)
    if values.size != rows * cols:
        raise PredictError(
            _C.INVALID_ARGUMENT, "%d values do not fill %d rows of %d features" % (values.size, rows, cols)
        )
    return Batch(info.name, values.reshape(rows, cols))


def fp32_from_raw(data, want, what):
    """Little-endian FP32 binary data of `want` elements, as float32; another size is
    INVALID_ARGUMENT (the caller's condition: bad_binary_data or bad_raw_contents)."""
    if len(data) != 4 * want:
        raise PredictError(
            _C.INVALID_ARGUMENT,
            "%s holds %d bytes; its shape and datatype need %d FP32 values of 4 bytes" % (what, len(data), want),
        )
    return np.frombuffer(data, dtype=_RAW[FP32]).astype(np.float32)


class Tensor:
    """An output tensor of an answer: its name, datatype and shape (the batch resolved), whether
    it is answered as binary data (REST), and its values: a numpy array (FP32, INT32) or a list of
    str (BYTES)."""

    __slots__ = ("binary", "data", "datatype", "name", "shape")

    def __init__(self, meta, binary, rows, data):
        self.name, self.datatype, self.binary, self.data = meta.name, meta.datatype, binary, data
        self.shape = [rows, *meta.shape[1:]]

    def raw(self):
        """The tensor's binary data (model.json raw_encoding): little-endian, row-major; a BYTES
        element is a 4-byte little-endian length and then its bytes."""
        if self.datatype == BYTES:
            return b"".join(map(_bytes_element, self.data))
        return self.data.astype(_RAW[self.datatype], copy=False).tobytes()


@functools.lru_cache(maxsize=1024)
def _bytes_element(text):
    data = text.encode()
    return struct.pack("<I", len(data)) + data


def tensors(answer, selected):
    """The selected output tensors of the core's Answer ([(TensorMeta, binary)], from `select`)."""
    model, output = answer.model, answer.output
    rows = output.shape[0]
    index = output.argmax(axis=1).astype(np.int32) if model.classifier else None
    out = []
    for meta, binary in selected:
        if meta.name == "probabilities":
            data = output.reshape(-1)
        elif meta.name == "class_index":
            data = index
        elif meta.name == "label":
            labels = model.class_labels
            data = [labels[i] for i in index.tolist()]
        else:  # value
            data = np.ascontiguousarray(output[:, 0])
        out.append(Tensor(meta, binary, rows, data))
    return out
