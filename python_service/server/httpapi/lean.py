"""The lean HTTP adapter (`--http-server rsgi`): the routes of proto/predict/v1/routes.json answered
straight from granian's RSGI interface, behind the same front as the Flask app (httpapi/rsgi.py:
body reading, admission, lanes), over the same core and codec, with every error built by
errors.answer — no WSGI environ, no Flask. It answers exactly as the Flask app does (the
conformance suite runs on both); what it saves is the framework's own cost per request. Paths under
/v2 go to the Open Inference Protocol's REST handler (v2/rest.py), the one the Flask app uses.
"""

import logging
from time import perf_counter

import grpc

from python_service import contract
from python_service.server.core import codec, metrics
from python_service.server.core.errors import PredictError, quote
from python_service.server.core.predictor import Timing
from python_service.server.httpapi import errors
from python_service.server.httpapi.negotiate import wants_protobuf
from python_service.server.v2 import rest

log = logging.getLogger("python_service.server.httpapi")
_C = grpc.StatusCode
_JSON = [errors.CONTENT_TYPE]
_MODELS = "/v1/models/"
# routes.json: path → the methods it allows ("{name}" routes matched by their prefix).
_ALLOW = {r["path"]: r["allow"] for r in contract.load("routes.json")["routes"]}


class Request:
    """What the lane needs of a request, taken from granian's scope on the event loop."""

    __slots__ = ("accept", "body", "content_type", "method", "path")

    def __init__(self, scope, body):
        headers = scope.headers
        self.method, self.path, self.body = scope.method, scope.path, body
        self.content_type = (headers.get("content-type") or "").partition(";")[0].strip().lower()
        self.accept = headers.get("accept")


class LeanApp:
    """The routes over `predictor`; /metrics when `recorder` records; /readyz asks `ready()`."""

    def __init__(self, predictor, *, recorder=metrics.NO_METRICS, ready=None):
        self.predictor = predictor
        self.recorder = recorder
        self.ready = ready or (lambda: predictor.ready)
        self.v2 = rest.RestV2(predictor, recorder=recorder, ready=self.ready)
        self._routes = {
            "/v1/predict": self._predict,
            "/v1/models": self._list_models,
            "/healthz": lambda r: (200, _JSON, b'{"status": "ok"}'),
            "/readyz": self._readyz,
        }
        if recorder.enabled:
            self._routes["/metrics"] = lambda r: (200, [("content-type", metrics.CONTENT_TYPE)], metrics.exposition())

    @staticmethod
    def prepare(scope, body):
        """What the lane needs of a request (on the event loop): a V2 `Call` under /v2."""
        return rest.Call.from_rsgi(scope, body) if rest.is_v2(scope.path) else Request(scope, body)

    def __call__(self, request):
        """(status, headers, body bytes) of one request."""
        if type(request) is rest.Call:
            return self.v2(request)
        path = request.path
        route = self._routes.get(path)
        pattern = path
        if route is None and path.startswith(_MODELS) and "/" not in path[len(_MODELS) :] and len(path) > len(_MODELS):
            route, pattern = self._get_model, _MODELS + "{name}"
        if route is None:
            return self._refuse(404, "no route %s %s" % (request.method, quote(path)))
        allow = _ALLOW[pattern]
        if request.method not in allow:
            message = "method %s not allowed on %s" % (request.method, quote(path))
            return self._refuse(405, message, (("Allow", ", ".join(sorted(allow))),))
        try:
            return route(request)
        except _Refused as e:
            return errors.answer(e, e.status)
        except PredictError as e:
            return errors.answer(e)
        except Exception:
            log.exception("%s %s failed", request.method, path)
            return self._refuse(500, "internal error")

    @staticmethod
    def _refuse(status, message, headers=()):
        return errors.answer(errors.framework_error(status, message), status, headers)

    def _predict(self, request):
        return metrics.timed(self.recorder, "Predict", self._predict_body, request, status=_status)

    def _predict_body(self, request):
        decode = codec.DECODERS.get(request.content_type)
        if decode is None:
            raise _Refused(415, "Content-Type must be %s or %s" % (codec.JSON, codec.PROTOBUF))
        timing = Timing()
        started = perf_counter()
        decoded = decode(request.body, self.predictor.value_bound)
        timing.decode = perf_counter() - started
        answer = self.predictor.infer(decoded, timing=timing)
        encoding = perf_counter()
        if wants_protobuf(request.accept):
            out = 200, [("content-type", codec.PROTOBUF)], codec.encode_answer_protobuf(answer)
        else:
            out = 200, _JSON, codec.encode_answer_json(answer)
        timing.encode += perf_counter() - encoding
        timing.record(self.recorder)
        return out

    def _list_models(self, request):
        return (
            200,
            _JSON,
            codec.encode_json(metrics.timed(self.recorder, "ListModels", self.predictor.list_models)).encode(),
        )

    def _get_model(self, request):
        name = request.path[len(_MODELS) :]
        info = metrics.timed(self.recorder, "GetModel", self.predictor.get_model, name)
        return 200, _JSON, codec.encode_json(info).encode()

    def _readyz(self, request):
        if not self.ready():
            raise PredictError(_C.UNAVAILABLE, "not ready")
        return 200, _JSON, b'{"status": "ready"}'


class _Refused(PredictError):
    """A refusal with an HTTP status of its own (415)."""

    def __init__(self, status, message):
        super().__init__(errors.framework_error(status, message).code, message)
        self.status = status


def _status(error):
    return errors.CODE_FOR_STATUS[error.status].name if isinstance(error, _Refused) else metrics.status_of(error)
