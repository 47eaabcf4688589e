"""Bytes ↔ predict requests and answers, for every adapter: the proto3 JSON mapping of the
contract's messages (requests accept both field spellings and refuse unknown fields; answers use
the proto field names and omit defaults) and binary protobuf. A request the client got wrong is a
`PredictError` INVALID_ARGUMENT.

JSON has two paths that answer alike. The lean one (orjson + numpy, no per-value Python work)
decodes an ordinary request straight to a `Batch` (the model name and one float32 tensor) and
encodes an `Answer` straight to bytes. Anything it is not sure of — an escape, a duplicate key, a
string or null where a number belongs, ragged rows, a number out of float32's range, an output that
is not finite — goes to the reference, google.protobuf.json_format, which decides what is valid and
says what is wrong. tests/python/test_codec.py checks that both give identical answers and
identical errors, on every conformance vector and on random valid and invalid requests.

A JSON body is checked before it is decoded (`check_cost`, errors.json too_many_values and
number_too_long): decoding costs per value, and a valid request carries at most the predictor's
value bound.
"""

import itertools
import json
import operator
import re

import grpc
import numpy as np
import orjson
from google.protobuf import json_format
from google.protobuf.internal import type_checkers
from google.protobuf.message import DecodeError

from python_service import contract
from python_service.gen.predict.v1 import predict_pb2
from python_service.server.core.errors import PredictError, quote
from python_service.server.core.predictor import Batch

_C = grpc.StatusCode
JSON = "application/json"
PROTOBUF = "application/x-protobuf"
_NUMBER_MAX_DIGITS = contract.load("errors.json")["json_number_max_digits"]
_DIGITS_AS_9 = bytes(b"9"[0] if b"0"[0] <= i <= b"9"[0] else b" "[0] for i in range(256))
_DIGIT_RUN = b"9" * (_NUMBER_MAX_DIGITS + 1)
_LONG_MODEL_NAME = 4096  # longer model names skip json_format's string check (see decode_json)
_PLAIN_NUMBERS = {int, float}
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBER_WORDS = ("NaN", "Infinity", "-Infinity")


_FLOAT_MAX = type_checkers._FLOAT_MAX  # the largest number json_format takes for a float field
_FEATURES = operator.itemgetter("features")
_NUMBERS = {int, float}
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def encode_json(message):
    """A message in the proto3 JSON mapping (proto field names, defaults omitted), as text: the
    reference encoder (json_format), for any message."""
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=None)


def encode_answer_json(answer):
    """A predict Answer as PredictResponse JSON bytes: what `encode_json(answer.message())` says,
    without building the message (orjson writes a float32 as its shortest decimal, as json_format
    does; an output that is not finite, which JSON numbers cannot carry, goes the reference way)."""
    model, output = answer.model, answer.output
    if not np.isfinite(output).all():
        return encode_json(answer.message()).encode()
    if model.classifier:
        labels = model.class_labels
        predictions = [
            {"label": labels[index], "class_index": index, "probabilities": row}
            for index, row in zip(output.argmax(axis=1).tolist(), output)
        ]
    else:
        predictions = [{"value": value} for value in output[:, 0]]
    return orjson.dumps(
        {"model": model.name, "model_version": model.version, "predictions": predictions}, option=_NUMPY
    )


def encode_answer_protobuf(answer):
    """A predict Answer as PredictResponse protobuf bytes."""
    return answer.message().SerializeToString()


def _object(pairs):
    """json.loads hook: as in the proto3 JSON mapping, a key may appear once per object."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key in an object")
    return obj


def decode_json(body, value_bound=None):
    """A Batch (the lean path) or a PredictRequest (the reference's) from a JSON body (bytes), or
    INVALID_ARGUMENT."""
    check_cost(body, value_bound)
    return _lean(body) or decode_json_reference(body)


def _lean(body):
    """The Batch of an ordinary JSON body, or None for anything json_format must judge: every check
    here is one that json_format would pass, done on whole lists in C (map, set, numpy)."""
    if b"\\" in body:  # an escape may spell a key or a surrogate differently: the reference decides
        return None
    try:
        tree = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(tree) is not dict or not tree.keys() <= {"model", "instances"}:
        return None
    model, instances = tree.get("model", ""), tree.get("instances")
    if type(model) is not str or type(instances) is not list or not instances:
        return None
    # A key written twice (which orjson would take the last of) shows as one too many in the body.
    if (
        body.count(b'"model"') != ("model" in tree)
        or body.count(b'"instances"') != 1
        or body.count(b'"features"') != len(instances)
    ):
        return None
    try:
        if set(map(len, instances)) != {1}:
            return None
        rows = list(map(_FEATURES, instances))
    except (TypeError, KeyError):
        return None
    if set(map(type, rows)) != {list} or not set(map(type, itertools.chain.from_iterable(rows))) <= _NUMBERS:
        return None
    try:
        values = np.array(rows, dtype=np.float64)
    except (ValueError, OverflowError):  # ragged rows; an integer beyond float64
        return None
    if values.ndim != 2 or (values.size and np.abs(values).max() > _FLOAT_MAX):
        return None
    return Batch(model, values.astype(np.float32))


def decode_json_reference(body):
    """A PredictRequest from a JSON body by json_format (the reference), or INVALID_ARGUMENT."""
    message = predict_pb2.PredictRequest()
    try:
        tree = json.loads(body.decode("utf-8"), object_pairs_hook=_object)
        if not isinstance(tree, dict):
            raise ValueError("the body must be a JSON object")
        name = tree.get("model")
        if isinstance(name, str) and len(name) > _LONG_MODEL_NAME:
            # json_format checks a string for lone surrogates with a regular expression (~70 ms
            # for 1 MB, holding the GIL); the field's own setter checks the same in C.
            json_format.ParseDict(dict(tree, model=""), message)
            message.model = name
        else:
            json_format.ParseDict(tree, message)
    except Exception as e:  # as json_format.Parse does: a failure on the client's JSON is theirs
        raise PredictError(_C.INVALID_ARGUMENT, "invalid request JSON: %s" % e) from None
    _check_features(tree)
    return message


def check_cost(body, bound):
    """Refuse, before decoding, a JSON body whose decoding would cost more than any valid
    request's (errors.json, too_many_values and number_too_long):
    - more values than a valid request carries: decoding costs per value (json.loads and
      json_format ~3 µs each), so a 2 MB body of a million numbers would hold the GIL for seconds.
      A body's commas bound its values from below (values ≥ commas + 1) and a valid request
      carries at most `bound` values; no bound (models not loaded) checks nothing;
    - a run of more than `_NUMBER_MAX_DIGITS` digits (a number, or a string holding one), as
      CPython's int_max_str_digits refuses for integers; float() would read any length."""
    commas = body.count(b",")
    if bound is not None and commas >= bound:
        raise PredictError(
            _C.INVALID_ARGUMENT,
            "request body holds %d commas, so more values than a valid request carries"
            " (at most %d: --max-batch × (widest model's n_features + 1))" % (commas, bound),
        )
    if _DIGIT_RUN in body.translate(_DIGITS_AS_9):  # two passes in C, ~2 ms per MB
        raise PredictError(
            _C.INVALID_ARGUMENT, "request body holds a number of more than %d digits" % _NUMBER_MAX_DIGITS
        )


def decode_protobuf(body, value_bound=None):
    """A PredictRequest from a binary protobuf body, or INVALID_ARGUMENT. `value_bound` does not
    apply: packed floats decode at memory speed, and `max_body` bounds them."""
    try:
        return predict_pb2.PredictRequest.FromString(body)
    except DecodeError as e:
        raise PredictError(_C.INVALID_ARGUMENT, "invalid request protobuf: %s" % e) from None


DECODERS = {JSON: decode_json, PROTOBUF: decode_protobuf}


def _check_features(tree):
    """json_format also takes, where a float belongs, a boolean and any string float() reads
    ("5_1", " 5", ".5"); the proto3 JSON mapping (and Go's protojson) take a JSON number or a
    string holding exactly one, or NaN / Infinity / -Infinity."""
    for i, instance in enumerate(tree.get("instances") or ()):
        if not isinstance(instance, dict):  # json_format reads "" as an empty Instance
            raise PredictError(
                _C.INVALID_ARGUMENT, "invalid request JSON: instance %d: %s is not an object" % (i, quote(instance))
            )
        features = instance.get("features") or ()
        if _PLAIN_NUMBERS.issuperset(map(type, features)):
            continue
        for j, value in enumerate(features):
            if isinstance(value, bool) or (
                isinstance(value, str) and value not in _NUMBER_WORDS and not _NUMBER.fullmatch(value)
            ):
                raise PredictError(
                    _C.INVALID_ARGUMENT,
                    "invalid request JSON: instance %d feature %d: %s is not a number" % (i, j, quote(value)),
                )
