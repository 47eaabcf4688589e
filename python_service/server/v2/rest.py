"""The Open Inference Protocol's (KServe "V2") REST adapter: the routes of proto/inference/routes.json
over the core predict.v1 uses, with the specification's JSON tensors and Triton's binary tensor
data extension (rest_codec.py). One handler for both HTTP adapters: the Flask app (httpapi/app.py)
and the lean adapter (httpapi/lean.py) hand it every path under /v2, as a `Call`. Both run behind
the RSGI front (httpapi/rsgi.py: body reading, admission by queueing time — one bound for
predict.v1 and V2 — and lanes), which asks this module which requests are inferences (`admits`) and
refuses their bad headers before admission (`early_refusal`). Errors are {"error": "..."}, built by
httpapi/errors.answer with the status predict.v1's error table derives from the core's gRPC code
(proto/inference/errors.json). Go: internal/v2http.
"""

import logging
from time import perf_counter

import grpc
import orjson

from python_service import contract
from python_service.server.core import metrics
from python_service.server.core.admission import Unbounded
from python_service.server.core.errors import PredictError, quote
from python_service.server.core.predictor import Timing
from python_service.server.httpapi import errors
from python_service.server.v2 import infer, rest_codec
from python_service.server.v2.rest_codec import HEADER_LENGTH

log = logging.getLogger("python_service.server.v2")
_C = grpc.StatusCode
_JSON = [errors.CONTENT_TYPE]
_BINARY = ("content-type", "application/octet-stream")
_COUNTED = ("ModelMetadata", "ModelInfer")  # metrics.json methods; health and server metadata are not
# routes.json: each route's path segments ("{model}", "{version}": any one segment), allow, rpc.
_ROUTES = [(r["path"].split("/")[1:], r) for r in contract.load("routes.json", contract.INFERENCE_DIR)["routes"]]


def is_v2(path):
    """Whether a path is the Open Inference Protocol's (under /v2)."""
    return path == "/v2" or path.startswith("/v2/")


def match(path):
    """(route of routes.json, {"model": …, "version": …}) for a path, or (None, None)."""
    segments = ["v2"] if path == "/v2/" else path.split("/")[1:]
    for pattern, route in _ROUTES:
        if len(pattern) != len(segments):
            continue
        params = {}
        for want, got in zip(pattern, segments):
            if want.startswith("{"):
                if not got:
                    break
                params[want[1:-1]] = got
            elif want != got:
                break
        else:
            return route, params
    return None, None


def admits(method, path):
    """Whether a request is an inference, which the RSGI front admits by queueing time."""
    return method == "POST" and path.endswith("/infer") and (match(path)[0] or {}).get("rpc") == "ModelInfer"


class Call:
    """What the handler needs of a request: method, path, body and the two headers it reads."""

    __slots__ = ("body", "content_encoding", "header_lengths", "method", "path")

    def __init__(self, method, path, body, content_encoding=None, header_lengths=()):
        self.method, self.path, self.body = method, path, body
        self.content_encoding, self.header_lengths = content_encoding, list(header_lengths)

    @classmethod
    def from_rsgi(cls, scope, body):
        """From granian's RSGI scope (on the event loop)."""
        encoding, lengths = headers_of(scope.headers.items())
        return cls(scope.method, scope.path, body, encoding, lengths)


def headers_of(items):
    """(Content-Encoding, [Inference-Header-Content-Length values]) of (name, value) pairs."""
    encoding, lengths, wanted = None, [], HEADER_LENGTH.lower()
    for name, value in items:
        name = name.lower()
        if name == wanted:
            lengths.append(value)
        elif name == "content-encoding" and encoding is None:
            encoding = value
    return encoding, lengths


class Refused(PredictError):
    """A refusal with an HTTP status of its own (404 no route, 405, 415)."""

    def __init__(self, status, message, headers=()):
        super().__init__(errors.framework_error(status, message).code, message)
        self.status, self.headers = status, headers


def early_refusal(content_encoding, header_lengths, size):
    """The refusal of an inference's headers, checked before admission (its first checks, in
    order): a Content-Encoding other than identity (415), a bad Inference-Header-Content-Length
    for a body of `size` bytes (400); None when they are fine."""
    if content_encoding and content_encoding.strip().lower() != "identity":
        message = "Content-Encoding %s is not supported; send the body uncompressed" % quote(content_encoding)
        return Refused(415, message)
    try:
        rest_codec.header_length(header_lengths, size)
    except PredictError as e:
        return e
    return None


def _json(status, doc):
    return status, _JSON, orjson.dumps(doc)


class RestV2:
    """The V2 routes over `predictor`: `handler(call)` → (status, headers, body bytes). `ready()`
    says whether the server is ready (default: the predictor's own readiness); `admission` admits
    inferences where no front does (the WSGI servers; default: none)."""

    def __init__(self, predictor, *, recorder=metrics.NO_METRICS, ready=None, admission=None):
        self.predictor = predictor
        self.recorder = recorder
        self.ready = ready or (lambda: predictor.ready)
        self.admission = admission or Unbounded()
        self._rpcs = {
            "ServerLive": lambda call, params: _json(200, {"live": True}),
            "ServerReady": self._server_ready,
            "ServerMetadata": lambda call, params: _json(200, infer.SERVER),
            "ModelMetadata": self._model_metadata,
            "ModelReady": self._model_ready,
            "ModelInfer": self._infer,
        }

    def __call__(self, call):
        route, params = match(call.path)
        try:
            if route is None:
                raise Refused(404, "no route %s" % quote(call.path))
            if route["rpc"] in _COUNTED:
                return metrics.timed(self.recorder, route["rpc"], self._serve, route, params, call)
            return self._serve(route, params, call)
        except Refused as e:
            return errors.answer(e, e.status, e.headers, v2=True)
        except PredictError as e:
            return errors.answer(e, v2=True)
        except Exception:
            log.exception("%s %s failed", call.method, call.path)
            return errors.answer(PredictError(_C.INTERNAL, "internal error"), 500, v2=True)

    def _serve(self, route, params, call):
        allow = route["allow"]
        if call.method not in allow:
            message = "method %s not allowed on %s; use %s" % (quote(call.method), quote(call.path), route["method"])
            raise Refused(405, message, (("Allow", ", ".join(allow)),))
        return self._rpcs[route["rpc"]](call, params)

    def _server_ready(self, call, params):
        ready = self.ready()
        return _json(200 if ready else 503, {"ready": ready})

    def _model_metadata(self, call, params):
        info = self.predictor.get_model_version(params["model"], params.get("version", ""))
        return _json(200, infer.metadata(info))

    def _model_ready(self, call, params):
        """200 ready true for a served model (and version); 503 ready false while the server is not
        ready; 404 for a model or version it does not serve."""
        name = params["model"]
        try:
            self.predictor.get_model_version(name, params.get("version", ""))
        except PredictError as e:
            if e.code != _C.UNAVAILABLE:
                raise
            return _json(503, {"name": name, "ready": False})
        ready = self.ready()
        return _json(200 if ready else 503, {"name": name, "ready": ready})

    def _infer(self, call, params):
        """POST …/infer. In order: the Content-Encoding (415), the header length (400), admission
        (503), ready (503), the model and version (404), the JSON header's cost and the request
        (400), the core (400), the answer encoded; it is written once the request has left admission."""
        body = call.body
        refused = early_refusal(call.content_encoding, call.header_lengths, len(body))
        if refused is not None:
            raise refused
        split = rest_codec.header_length(call.header_lengths, len(body))
        header, binary = (body, b"") if split is None else (body[:split] or None, body[split:])
        predictor, timing = self.predictor, Timing()
        with self.admission.admit():
            started = perf_counter()
            predictor.check_ready()
            info = predictor.get_model_version(params["model"], params.get("version", ""))
            if header is None:
                request_id, batch, selected = rest_codec.decode_raw(predictor, info, binary)
            else:
                rest_codec.check_cost(header, predictor.value_bound)
                request_id, batch, selected = rest_codec.decode(predictor, info, header, binary)
            timing.decode = perf_counter() - started
            answer = predictor.infer(batch, timing=timing)
            encoding = perf_counter()
            body, header_length = rest_codec.encode(answer, request_id, infer.tensors(answer, selected))
            timing.encode += perf_counter() - encoding
        timing.record(self.recorder)
        if header_length is None:
            return 200, _JSON, body
        return 200, [_BINARY, (HEADER_LENGTH.lower(), str(header_length))], body
