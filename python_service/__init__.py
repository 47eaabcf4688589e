"""servebench's Python service: model export workflow and the gRPC + HTTP/JSON server."""
import os
import sys

# Generated stubs live in python_service/gen and import each other as `predict.v1.…`
# (protoc's import paths follow the .proto package layout), so that folder goes on sys.path.
_GEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen")
if _GEN not in sys.path:
    sys.path.insert(0, _GEN)
