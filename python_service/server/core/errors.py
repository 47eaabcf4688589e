"""Refusals of the core and how each protocol answers them: the error table of
proto/predict/v1/errors.json, which tests/python/test_contract.py checks this module against.

The core raises `PredictError` with a gRPC status code, never an HTTP status. The gRPC adapter
aborts with that code; the HTTP adapter derives its status once, with `http_answer`.
"""

import grpc

C = grpc.StatusCode

# errors.json "http_status_for_code" and "http_status_for_code_when_retryable".
_HTTP_STATUS = {
    C.INVALID_ARGUMENT: 400,
    C.NOT_FOUND: 404,
    C.RESOURCE_EXHAUSTED: 413,
    C.UNAVAILABLE: 503,
    C.DEADLINE_EXCEEDED: 504,
    C.INTERNAL: 500,
}
_HTTP_STATUS_RETRYABLE = {C.RESOURCE_EXHAUSTED: 503, C.UNAVAILABLE: 503}
# errors.json "unmapped": a code the core should never raise is a bug, answered generically.
UNMAPPED = (500, C.INTERNAL, "internal error")
# errors.json "message_quote_max_chars": the most characters of client input an error quotes.
QUOTE_MAX_CHARS = 64


class PredictError(Exception):
    """A request the core refuses. `code` is a grpc.StatusCode, `message` is safe to show;
    `retry_after_s`, when set, tells the client when to try again (an overload refusal)."""

    def __init__(self, code, message, *, retry_after_s=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s


def http_answer(code, message, retryable=False):
    """(HTTP status, gRPC code, message) of an error answer for a core refusal."""
    status = (_HTTP_STATUS_RETRYABLE if retryable else {}).get(code) or _HTTP_STATUS.get(code)
    if status is None or code == C.INTERNAL:
        return UNMAPPED if status is None else (status, code, UNMAPPED[2])
    return status, code, message


def quote(value, limit=QUOTE_MAX_CHARS):
    """`value` for an error message: at most `limit` characters of it, escaped (repr-style, so
    control characters and quotes cannot forge log lines or JSON), with its full length when cut."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(text)
    return "%r… (%d characters)" % (text[:limit], len(text))
