"""HTTP adapter: a Flask app over the core `Predictor` (decode → core → encode → map errors).

Bodies are decoded and answers encoded by the core's codec (core/codec.py: the proto3 JSON mapping,
or binary protobuf with `application/x-protobuf`; the answer's encoding follows `Accept`,
routes.json). Every error answer is built by `errors.answer` (httpapi/errors.py): the core's
refusals and the framework's own (routing, body size, media type). Every path under /v2, whatever
its method, goes to the Open Inference Protocol's REST handler (v2/rest.py), before routing.
"""

from time import perf_counter

import grpc
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, UnsupportedMediaType

from python_service.server.core import codec, metrics
from python_service.server.core.admission import Unbounded
from python_service.server.core.errors import PredictError, quote
from python_service.server.core.predictor import Timing
from python_service.server.httpapi import errors
from python_service.server.httpapi.negotiate import wants_protobuf
from python_service.server.v2 import rest

_C = grpc.StatusCode


def _status(error):
    """The status code name a route's request is counted with (metrics.timed)."""
    if isinstance(error, HTTPException):
        return errors.CODE_FOR_STATUS.get(error.code, _C.INTERNAL).name
    return metrics.status_of(error)


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


def _json_response(message):
    return Response(codec.encode_json(message), mimetype=codec.JSON)


def create_app(predictor, *, max_body, recorder=metrics.NO_METRICS, admission=None, ready=None):
    """The Flask app answering the contract's routes (proto/predict/v1/routes.json) for
    `predictor`; bodies over `max_body` bytes are refused with 413; /metrics is served when
    `recorder` records; /readyz asks `ready()` (default: the predictor's own readiness)."""
    app = Flask("python_service")
    app.config.update(MAX_CONTENT_LENGTH=max_body, PROVIDE_AUTOMATIC_OPTIONS=False)
    admission = admission or Unbounded()
    ready = ready or (lambda: predictor.ready)
    v2 = rest.RestV2(predictor, recorder=recorder, ready=ready, admission=admission)

    @app.before_request
    def open_inference_protocol():
        """The V2 routes: any method on any path under /v2 (its own 404 and 405)."""
        if not rest.is_v2(request.path):
            return None
        encoding, lengths = rest.headers_of(request.headers.items())
        try:
            body = _read_body(max_body)
        except RequestEntityTooLarge:  # unless an inference's encoding is refused first (415)
            if not rest.admits(request.method, request.path) or rest.early_refusal(encoding, (), 0) is None:
                raise
            _discard_body(request.environ["wsgi.input"], 4 * max_body)
            body = b""
        return Response(*_flask(v2(rest.Call(request.method, request.path, body, encoding, lengths))))

    def predict_view():
        decode = codec.DECODERS.get(request.mimetype)
        if decode is None:
            raise UnsupportedMediaType()
        body = _read_body(max_body)
        with admission.admit():
            timing = Timing()
            decoding = perf_counter()
            request_ = decode(body, predictor.value_bound)
            timing.decode = perf_counter() - decoding
            answer = predictor.infer(request_, timing=timing)
            encoding = perf_counter()
            if wants_protobuf(request.headers.get("Accept")):
                out, mimetype = codec.encode_answer_protobuf(answer), codec.PROTOBUF
            else:
                out, mimetype = codec.encode_answer_json(answer), codec.JSON
            timing.encode += perf_counter() - encoding
        timing.record(recorder)
        # Flask's Response is the framework's cost, not the encode phase's (the lean adapter's
        # encode phase ends at the bytes too)
        return Response(out, mimetype=mimetype)

    @app.post("/v1/predict")
    def predict():
        return metrics.timed(recorder, "Predict", predict_view, status=_status)

    @app.get("/v1/models")
    def list_models():
        return _json_response(metrics.timed(recorder, "ListModels", predictor.list_models))

    @app.get("/v1/models/<name>")
    def get_model(name):
        return _json_response(metrics.timed(recorder, "GetModel", predictor.get_model, name))

    @app.get("/healthz")
    def healthz():
        return Response('{"status": "ok"}', mimetype=codec.JSON)

    @app.get("/readyz")
    def readyz():
        if not ready():
            raise PredictError(_C.UNAVAILABLE, "not ready")
        return Response('{"status": "ready"}', mimetype=codec.JSON)

    if recorder.enabled:

        @app.get("/metrics")
        def metrics_route():
            return Response(metrics.exposition(), content_type=metrics.CONTENT_TYPE)

    @app.errorhandler(PredictError)
    def on_predict_error(e):
        return Response(*_flask(errors.answer(e)))

    @app.errorhandler(HTTPException)
    def on_http_error(e):
        """Refusals by routing, the body limit or the media-type check (and 500 for a bug:
        Flask has logged the exception; the answer stays generic)."""
        headers, v2_path = (), rest.is_v2(request.path)
        if e.code == 404:
            message = "no route %s %s" % (request.method, quote(request.path))
        elif e.code == 405:
            message = "method %s not allowed on %s" % (request.method, quote(request.path))
            headers = (("Allow", ", ".join(sorted(e.valid_methods or ()))),)
        elif e.code == 413:
            message = "request body larger than %d bytes" % max_body
            _discard_body(request.environ["wsgi.input"], 4 * max_body)
        elif e.code == 415:
            message = "Content-Type must be %s or %s" % (codec.JSON, codec.PROTOBUF)
        elif e.code >= 500:
            message = "internal error"
        else:
            message = e.description
        return Response(*_flask(errors.answer(errors.framework_error(e.code, message), e.code, headers, v2=v2_path)))

    return app


def _flask(answer):
    """errors.answer's (status, headers, body) as Flask Response arguments (body, status, headers)."""
    status, headers, body = answer
    return body, status, headers
