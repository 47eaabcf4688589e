"""HTTP adapter: a Flask app over the core `Predictor` (decode → core → encode → map errors).

JSON is the proto3 JSON mapping of the contract's messages (google.protobuf.json_format): requests
accept both field spellings and refuse unknown fields; answers use the proto field names and omit
defaults. `POST /v1/predict` also takes and answers binary protobuf (`application/x-protobuf`; the
answer's encoding follows `Accept`, routes.json). Every error answer is JSON `{"code": <grpc code>,
"message": ...}`, built in `_error`; the status comes from `errors.http_answer` for the core's
refusals and is the framework's own for routing, body-size and media-type refusals (whose gRPC
code is `_CODE_FOR_STATUS`).
"""

import json
import re
from time import perf_counter

import grpc
from flask import Flask, Response, request
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.http import parse_accept_header

from python_service import contract
from python_service.gen.predict.v1 import predict_pb2
from python_service.server import metrics
from python_service.server.admission import Unbounded
from python_service.server.errors import PredictError, http_answer, quote
from python_service.server.predictor import Timing

_C = grpc.StatusCode
# The gRPC code of the refusals the framework makes itself (routing, body limit, media type).
_CODE_FOR_STATUS = {
    400: _C.INVALID_ARGUMENT,
    404: _C.NOT_FOUND,
    405: _C.UNIMPLEMENTED,
    413: _C.RESOURCE_EXHAUSTED,
    415: _C.UNIMPLEMENTED,
    503: _C.UNAVAILABLE,
    504: _C.DEADLINE_EXCEEDED,
}
_JSON = "application/json"
_PROTOBUF = "application/x-protobuf"
_MESSAGE_MAX_CHARS = 256  # an error message, whole; client text inside it is quoted shorter


def _error(code, message, status, headers=None):
    """The one place an error answer is built."""
    if len(message) > _MESSAGE_MAX_CHARS:
        message = message[: _MESSAGE_MAX_CHARS - 1] + "…"
    body = json.dumps({"code": code.value[0], "message": message})
    return Response(body, status, headers, mimetype=_JSON)


def _json(message):
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=None)


def _encode(message):
    return Response(_json(message), mimetype=_JSON)


def _object(pairs):
    """json.loads hook: as in the proto3 JSON mapping, a key may appear once per object."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key in an object")
    return obj


def _decode_json(body, value_bound=None):
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


def _decode_protobuf(body, value_bound=None):
    """A PredictRequest from a binary protobuf body, or INVALID_ARGUMENT. `value_bound` does not
    apply: packed floats decode at memory speed, and `max_body` bounds them."""
    try:
        return predict_pb2.PredictRequest.FromString(body)
    except DecodeError as e:
        raise PredictError(_C.INVALID_ARGUMENT, "invalid request protobuf: %s" % e) from None


_DECODERS = {_JSON: _decode_json, _PROTOBUF: _decode_protobuf}
_NUMBER_MAX_DIGITS = contract.load("errors.json")["json_number_max_digits"]
_DIGITS_AS_9 = bytes(b"9"[0] if b"0"[0] <= i <= b"9"[0] else b" "[0] for i in range(256))
_DIGIT_RUN = b"9" * (_NUMBER_MAX_DIGITS + 1)
_LONG_MODEL_NAME = 4096  # longer model names skip json_format's string check (see _decode_json)
_PLAIN_NUMBERS = {int, float}
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBER_WORDS = ("NaN", "Infinity", "-Infinity")


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


def wants_protobuf(accept):
    """routes.json: protobuf when Accept names application/x-protobuf with a q-value at least that
    of application/json (or application/json absent)."""
    if not accept or _PROTOBUF not in accept:
        return False
    named = {value.lower(): quality for value, quality in parse_accept_header(accept, MIMEAccept)}
    protobuf = named.get(_PROTOBUF, 0)
    return protobuf > 0 and protobuf >= named.get(_JSON, 0)


def _read_body(max_body):
    """The request body, read once. Werkzeug refuses a Content-Length over MAX_CONTENT_LENGTH
    before reading; a chunked body (no Content-Length) it would silently cut at the limit, so that
    one is read here with one byte to spare."""
    if request.content_length is not None or "wsgi.input_terminated" not in request.environ:
        return request.get_data(cache=False)
    body = request.environ["wsgi.input"].read(max_body + 1)
    if len(body) > max_body:
        raise RequestEntityTooLarge()
    return body


def _discard_body(stream, limit):
    """Read (at most `limit` bytes of) what is left of a refused body, so that a client that
    sends the whole body before reading the answer (Python's http.client) gets the 413 rather
    than a connection reset when the server closes with unread data."""
    while limit > 0:
        chunk = stream.read(min(65536, limit))
        if not chunk:
            return
        limit -= len(chunk)


def create_app(predictor, *, max_body, recorder=metrics.NO_METRICS, admission=None, ready=None):
    """The Flask app answering the contract's routes (proto/predict/v1/routes.json) for
    `predictor`; bodies over `max_body` bytes are refused with 413; /metrics is served when
    `recorder` records; /readyz asks `ready()` (default: the predictor's own readiness)."""
    app = Flask("python_service")
    app.config.update(MAX_CONTENT_LENGTH=max_body, PROVIDE_AUTOMATIC_OPTIONS=False)
    admission = admission or Unbounded()
    ready = ready or (lambda: predictor.ready)

    @app.post("/v1/predict")
    def predict():
        started, code = perf_counter(), "OK"
        try:
            decode = _DECODERS.get(request.mimetype)
            if decode is None:
                raise UnsupportedMediaType()
            body = _read_body(max_body)
            with admission:
                timing = Timing()
                decoding = perf_counter()
                message = decode(body, predictor.value_bound)
                timing.decode = perf_counter() - decoding
                answer = predictor.predict(message, timing=timing)
                encoding = perf_counter()
                if wants_protobuf(request.headers.get("Accept")):
                    response = Response(answer.SerializeToString(), mimetype=_PROTOBUF)
                else:
                    response = Response(_json(answer), mimetype=_JSON)
                timing.encode += perf_counter() - encoding
            timing.record(recorder)
            return response
        except PredictError as e:
            code = e.code.name
            raise
        except HTTPException as e:
            code = _CODE_FOR_STATUS.get(e.code, _C.INTERNAL).name
            raise
        finally:
            recorder.request("Predict", code, perf_counter() - started)

    def counted(method, produce):
        started, code = perf_counter(), "OK"
        try:
            return _encode(produce())
        except PredictError as e:
            code = e.code.name
            raise
        finally:
            recorder.request(method, code, perf_counter() - started)

    @app.get("/v1/models")
    def list_models():
        return counted("ListModels", predictor.list_models)

    @app.get("/v1/models/<name>")
    def get_model(name):
        return counted("GetModel", lambda: predictor.get_model(name))

    @app.get("/healthz")
    def healthz():
        return Response('{"status": "ok"}', mimetype=_JSON)

    @app.get("/readyz")
    def readyz():
        if not ready():
            raise PredictError(_C.UNAVAILABLE, "not ready")
        return Response('{"status": "ready"}', mimetype=_JSON)

    if recorder.enabled:

        @app.get("/metrics")
        def metrics_route():
            return Response(metrics.exposition(), content_type=metrics.CONTENT_TYPE)

    @app.errorhandler(PredictError)
    def on_predict_error(e):
        status, code, message = http_answer(e.code, e.message, e.retry_after_s is not None)
        headers = None if e.retry_after_s is None else {"Retry-After": str(max(1, round(e.retry_after_s)))}
        return _error(code, message, status, headers)

    @app.errorhandler(HTTPException)
    def on_http_error(e):
        """Refusals by routing, the body limit or the media-type check (and 500 for a bug:
        Flask has logged the exception; the answer stays generic)."""
        code = _CODE_FOR_STATUS.get(e.code, _C.INTERNAL if e.code >= 500 else _C.UNKNOWN)
        headers = None
        if e.code == 404:
            message = "no route %s %s" % (request.method, quote(request.path))
        elif e.code == 405:
            message = "method %s not allowed on %s" % (request.method, quote(request.path))
            headers = {"Allow": ", ".join(sorted(e.valid_methods or ()))}
        elif e.code == 413:
            message = "request body larger than %d bytes" % max_body
            _discard_body(request.environ["wsgi.input"], 4 * max_body)
        elif e.code == 415:
            message = "Content-Type must be %s or %s" % (_JSON, _PROTOBUF)
        elif e.code >= 500:
            message = "internal error"
        else:
            message = e.description
        return _error(code, message, e.code, headers)

    return app
