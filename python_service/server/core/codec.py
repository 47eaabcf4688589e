"""Bytes ↔ predict.v1 messages, for every adapter: the proto3 JSON mapping of the contract's
messages (google.protobuf.json_format; requests accept both field spellings and refuse unknown
fields, answers use the proto field names and omit defaults) and binary protobuf. A request the
client got wrong is a `PredictError` INVALID_ARGUMENT.

A JSON body is checked before it is decoded (`_check_cost`, errors.json too_many_values and
number_too_long): decoding costs per value, and a valid request carries at most the predictor's
value bound.
"""

import json
import re

import grpc
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from python_service import contract
from python_service.gen.predict.v1 import predict_pb2
from python_service.server.core.errors import PredictError, quote

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


def encode_json(message):
    """A message in the proto3 JSON mapping (proto field names, defaults omitted), as text."""
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=None)


def _object(pairs):
    """json.loads hook: as in the proto3 JSON mapping, a key may appear once per object."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key in an object")
    return obj


def decode_json(body, value_bound=None):
    """A PredictRequest from a JSON body (bytes), or INVALID_ARGUMENT."""
    _check_cost(body, value_bound)
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


def _check_cost(body, bound):
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
