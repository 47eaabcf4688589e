"""Bytes ↔ the V2 REST adapter's terms: the specification's JSON inference request (inputs with
data as JSON numbers, flat or nested by rows) and Triton's binary tensor data extension (a JSON
header, then binary data; `Inference-Header-Content-Length`, `binary_data_size`,
`binary_data_output`, the raw binary request), decoded into the core's `Batch` and the outputs to
answer; the answer encoded back (JSON, or the JSON header then binary data). Go: v2http/codec.go.

Decoding is orjson + numpy, no Python work per value: the JSON tree is checked for the request's
types (errors.json malformed_json, as a typed decoder would refuse it), the input's values become
one float32 array in C, and binary data is read with numpy.frombuffer.
"""

import itertools
import json

import grpc
import numpy as np
import orjson

from python_service import contract
from python_service.server.core import codec
from python_service.server.core.errors import PredictError, quote
from python_service.server.v2 import infer
from python_service.server.v2.infer import FP32, Requested

_C = grpc.StatusCode
HEADER_LENGTH = "Inference-Header-Content-Length"
# errors.json json_header_commas: the commas a JSON header may hold beyond predict.v1's value
# bound (a valid request's names, shape and parameters).
JSON_HEADER_COMMAS = contract.load("errors.json", contract.INFERENCE_DIR)["json_header_commas"]
_INT64 = range(-(1 << 63), 1 << 63)
_NUMBERS = {int, float}


def _invalid(message):
    return PredictError(_C.INVALID_ARGUMENT, message)


def header_length(values, size):
    """The JSON header's length in a body of `size` bytes, as its Inference-Header-Content-Length
    values say (None: no such header, the body is all JSON; 0: all binary, Triton's raw binary
    request), or INVALID_ARGUMENT (errors.json bad_binary_data)."""
    if not values:
        return None
    text = values[0].strip()
    if len(values) > 1:
        raise _invalid("%s given %d times" % (HEADER_LENGTH, len(values)))
    if not (text.isascii() and text.isdigit() and int(text) in _INT64):
        raise _invalid("%s %s is not a decimal byte count" % (HEADER_LENGTH, quote(values[0])))
    n = int(text)
    if n > size:
        raise _invalid("%s %d exceeds the body's %d bytes" % (HEADER_LENGTH, n, size))
    return n


def _parse(header):
    """The JSON header as a tree, or INVALID_ARGUMENT. orjson first; stdlib json for what orjson
    will not read but JSON allows (integers beyond 64 bits); neither takes NaN or Infinity."""
    try:
        return orjson.loads(header)
    except orjson.JSONDecodeError as e:
        first = e
    try:
        return json.loads(header, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _invalid("invalid JSON body: %s" % quote(str(first))) from None


def _no_constant(name):
    raise ValueError("%s is not JSON" % name)


def _typed(value, kinds, what):
    """`value` when its type is one of `kinds` (None: absent, allowed), else malformed_json."""
    if value is None or type(value) in kinds:
        return value
    raise _invalid("invalid JSON body: %s must be %s" % (what, " or ".join(k.__name__ for k in kinds)))


def _check_tree(tree):
    """The request's JSON types ($inference_request): what a typed decoder refuses."""
    if type(tree) is not dict:
        raise _invalid("invalid JSON body: the request must be a JSON object")
    _typed(tree.get("id"), (str,), "id")
    _typed(tree.get("parameters"), (dict,), "parameters")
    for i, t in enumerate(_typed(tree.get("inputs"), (list,), "inputs") or ()):
        what = "inputs[%d]" % i
        if type(t) is not dict:
            raise _invalid("invalid JSON body: %s must be dict" % what)
        _typed(t.get("name"), (str,), what + ".name")
        _typed(t.get("datatype"), (str,), what + ".datatype")
        _typed(t.get("parameters"), (dict,), what + ".parameters")
        shape = _typed(t.get("shape"), (list,), what + ".shape") or ()
        if not all(type(d) is int and d in _INT64 for d in shape):
            raise _invalid("invalid JSON body: %s.shape must be a list of integers" % what)
    for i, o in enumerate(_typed(tree.get("outputs"), (list,), "outputs") or ()):
        what = "outputs[%d]" % i
        if type(o) is not dict:
            raise _invalid("invalid JSON body: %s must be dict" % what)
        _typed(o.get("name"), (str,), what + ".name")
        _typed(o.get("parameters"), (dict,), what + ".parameters")


def _bool_param(params, key, otherwise):
    """A boolean parameter (absent: `otherwise`; null: false); another JSON type is
    INVALID_ARGUMENT (errors.json invalid_parameter)."""
    if not params or key not in params:
        return otherwise
    value = params[key]
    if value is None or type(value) is bool:
        return bool(value)
    raise _invalid('parameter "%s" must be a boolean, got %s' % (key, quote(orjson.dumps(value).decode())))


def decode(predictor, info, header, binary):
    """(id, Batch, selected outputs) of a JSON header (and the binary data after it, when its input
    has binary_data_size) for the model `info`. In order: the JSON and its types, the inputs
    (infer.check_input), the input's data (JSON numbers, or binary data of the shape's size), the
    parameters and outputs (infer.select), the core's rows and the data's length."""
    tree = _parse(header)
    _check_tree(tree)
    inputs = tree.get("inputs") or []
    first = inputs[0] if inputs else {}
    shape = first.get("shape") or []
    rows, cols = infer.check_input(info, len(inputs), first.get("name") or "", first.get("datatype") or "", shape)
    values = _input_data(first, rows, cols, binary)
    all_binary = _bool_param(tree.get("parameters"), "binary_data_output", False)
    requested = []
    for o in tree.get("outputs") or ():
        params = o.get("parameters")
        binary_out = _bool_param(params, "binary_data", all_binary)
        requested.append(Requested(o.get("name") or "", binary_out, bool(params) and "classification" in params))
    selected = infer.select(info, requested, all_binary)
    return tree.get("id") or "", infer.batch(predictor, info, rows, cols, values), selected


def decode_raw(predictor, info, data):
    """(id, Batch, selected outputs) of Triton's raw binary request (header length 0): the body is
    the model's one input, FP32 rows of n_features; every output is answered, as binary data."""
    cols = info.n_features
    if not data or len(data) % (4 * cols):
        raise _invalid(
            "raw binary request of %d bytes: not a whole number of rows of %d FP32 values" % (len(data), cols)
        )
    rows = len(data) // (4 * cols)
    values = infer.fp32_from_raw(data, rows * cols, "the raw binary request")
    return "", infer.batch(predictor, info, rows, cols, values), infer.select(info, [], True)


def _input_data(tensor, rows, cols, binary):
    """The input's values (float32): its JSON data, or its binary data (binary_data_size bytes, the
    whole of `binary`: the server's one input)."""
    name = quote(tensor.get("name") or "")
    params = tensor.get("parameters") or {}
    is_binary = "binary_data_size" in params
    data = tensor.get("data")
    if is_binary and data is not None:
        raise _invalid("input %s has both data and binary_data_size" % name)
    if not is_binary and binary:
        raise _invalid(
            "%d bytes of binary data follow the JSON header, but no input has binary_data_size" % len(binary)
        )
    if not is_binary and data is None:
        raise _invalid("input %s has no data (nor binary_data_size)" % name)
    if not is_binary:
        return _json_data(name, data, rows, cols)
    size = params["binary_data_size"]
    if size is not None and (type(size) is not int or size not in _INT64):
        raise _invalid('parameter "binary_data_size" must be an integer, got %s' % quote(orjson.dumps(size).decode()))
    size = size or 0
    if size < 0:
        raise _invalid("input %s: binary_data_size %d is negative" % (name, size))
    if size != len(binary):
        raise _invalid(
            "input %s: binary_data_size %d, but %d bytes of binary data follow the JSON header"
            % (name, size, len(binary))
        )
    return infer.fp32_from_raw(binary, rows * cols, "%s's binary data" % name)


def _json_data(name, data, rows, cols):
    """FP32 data given as JSON numbers, flat ([1, 2, 3, 4]) or in the tensor's natural nesting, one
    list per row ([[1, 2], [3, 4]], each row cols long), as float32; anything else, or a number
    beyond float32's range, is malformed_json."""
    if type(data) is not list:
        raise _bad_data(name)
    nested = bool(data) and type(data[0]) is list
    if nested and set(map(type, data)) != {list}:
        raise _bad_data(name)
    flat = list(itertools.chain.from_iterable(data)) if nested else data
    if not set(map(type, flat)) <= _NUMBERS:
        raise _bad_data(name)
    if nested:
        if len(data) != rows:
            raise _invalid("input %s: data has %d rows, its shape %d" % (name, len(data), rows))
        for i, row in enumerate(data):
            if len(row) != cols:
                raise _invalid("input %s: data row %d has %d values, its shape %d" % (name, i, len(row), cols))
    try:
        values = np.array(flat, dtype=np.float64)
    except OverflowError:  # an integer beyond float64
        raise _bad_data(name) from None
    with np.errstate(over="ignore"):
        out = values.astype(np.float32)
    if not np.isfinite(out).all():  # JSON numbers are finite: one that is not is beyond float32
        raise _bad_data(name, "a number beyond FP32's range")
    return out


def _bad_data(name, why=None):
    message = "input %s: data must be a list of numbers (FP32), flat or nested by rows" % name
    return _invalid(message + (": " + why if why else ""))


def check_cost(header, value_bound):
    """Refuse a JSON header costlier to decode than any valid request's (errors.json
    too_many_values, number_too_long): predict.v1's value bound plus JSON_HEADER_COMMAS."""
    codec.check_cost(header, value_bound + JSON_HEADER_COMMAS if value_bound else None)


def encode(answer, request_id, tensors):
    """(body, JSON header length or None) of the answer: the inference response as JSON, followed
    by the binary data of the outputs answered as binary (model.json raw_encoding); the header
    length is None when no binary data follows."""
    model = answer.model
    outputs, raw = [], []
    for t in tensors:
        o = {"name": t.name, "datatype": t.datatype, "shape": t.shape}
        if t.binary:
            data = t.raw()
            raw.append(data)
            o["parameters"] = {"binary_data_size": len(data)}
        elif t.datatype == FP32 and not np.isfinite(t.data).all():
            raise PredictError(_C.INTERNAL, "internal error")  # JSON numbers cannot carry it
        else:
            o["data"] = t.data
        outputs.append(o)
    doc = {"model_name": model.name, "model_version": model.version}
    if request_id:
        doc["id"] = request_id
    doc["outputs"] = outputs
    header = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not raw:
        return header, None
    return header + b"".join(raw), len(header)
