"""The contract's data files (proto/predict/v1: error table, routes, metadata.json schema, version
rule), read from the repository the package is installed from (editable, `make setup`)."""

import json
import os

CONTRACT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "proto", "predict", "v1")


def load(name):
    """proto/predict/v1/<name>, parsed (every contract data file is JSON)."""
    path = os.path.join(CONTRACT_DIR, name)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise RuntimeError(
            "contract file %s unreadable (%s): python_service must run from its repository "
            "(pip install -e .)" % (path, e.strerror)
        ) from None
