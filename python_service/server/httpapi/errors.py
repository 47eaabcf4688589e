"""The one place an HTTP error answer is built, for every HTTP adapter (the Flask app, the lean
adapter, the RSGI front, the Open Inference Protocol's routes): JSON `{"code": <grpc code number>,
"message": ...}` (errors.json), or `{"error": ...}` under /v2 (proto/inference/errors.json), its
status derived from the code by `errors.http_answer` unless the condition has one of its own (408,
413, and the framework's routing and media-type refusals), `Retry-After` when the error carries a
retry delay, `Connection: close` when the condition closes the connection."""

import json

import grpc

from python_service.server.core.errors import PredictError, http_answer

_C = grpc.StatusCode
CONTENT_TYPE = ("content-type", "application/json")
MESSAGE_MAX_CHARS = 256  # an error message, whole (errors.json message_max_chars)
# The gRPC code of the refusals the framework makes itself (routing, body limit, media type).
CODE_FOR_STATUS = {
    400: _C.INVALID_ARGUMENT,
    404: _C.NOT_FOUND,
    405: _C.UNIMPLEMENTED,
    408: _C.DEADLINE_EXCEEDED,
    413: _C.RESOURCE_EXHAUSTED,
    415: _C.UNIMPLEMENTED,
    503: _C.UNAVAILABLE,
    504: _C.DEADLINE_EXCEEDED,
}


def answer(error, status=None, headers=(), close=False, v2=False):
    """(status, headers, body bytes) of the error answer for `error` (a PredictError). `status`,
    when given, is the condition's own (the framework's refusals, 408, 413); `headers` adds to the
    answer's; `v2`: the Open Inference Protocol's body, {"error": message}."""
    if status is None:
        status, code, message = http_answer(error.code, error.message, error.retry_after_s is not None)
    else:
        code, message = error.code, error.message
    if len(message) > MESSAGE_MAX_CHARS:
        message = message[: MESSAGE_MAX_CHARS - 1] + "…"
    out = [CONTENT_TYPE, *headers]
    if error.retry_after_s is not None:
        out.append(("retry-after", str(max(1, round(error.retry_after_s)))))
    if close:
        out.append(("connection", "close"))
    body = {"error": message} if v2 else {"code": code.value[0], "message": message}
    return status, out, json.dumps(body).encode()


def framework_error(status, message):
    """The core error of a refusal the framework makes with an HTTP status of its own."""
    return PredictError(CODE_FOR_STATUS.get(status, _C.INTERNAL if status >= 500 else _C.UNKNOWN), message)
