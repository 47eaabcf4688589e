"""Content negotiation of POST /v1/predict's answer (routes.json), for both HTTP adapters."""

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from python_service.server.core import codec


def wants_protobuf(accept):
    """routes.json: protobuf when Accept names application/x-protobuf with a q-value at least that
    of application/json (or application/json absent)."""
    if not accept or codec.PROTOBUF not in accept:
        return False
    named = {value.lower(): quality for value, quality in parse_accept_header(accept, MIMEAccept)}
    protobuf = named.get(codec.PROTOBUF, 0)
    return protobuf > 0 and protobuf >= named.get(codec.JSON, 0)
