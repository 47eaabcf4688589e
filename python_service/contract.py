"""The contract's data files (proto/predict/v1: error table, routes, metadata.json schema, version
rule; proto/inference: the Open Inference Protocol's routes, model presentation and error table),
read from the repository the package is installed from (editable, `make setup`)."""

import json
import os

_PROTO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "proto")
CONTRACT_DIR = os.path.join(_PROTO, "predict", "v1")
INFERENCE_DIR = os.path.join(_PROTO, "inference")


def load(name, directory=CONTRACT_DIR):
    """<directory>/<name> (default proto/predict/v1), parsed (every contract data file is JSON)."""
    path = os.path.join(directory, name)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise RuntimeError(
            "contract file %s unreadable (%s): python_service must run from its repository "
            "(pip install -e .)" % (path, e.strerror)
        ) from None
