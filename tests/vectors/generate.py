"""Regenerate servebench's language-neutral test vectors: `make vectors`
(= `.venv/bin/python tests/vectors/generate.py --models models`). Deterministic: running it again
rewrites identical files. Needs the exported default models (`make models`).

File format (tests/vectors/*.json; README.md here says the same with examples):

  {"format": "servebench-vectors/1", "description": str,
   "server": {"max_batch": 1024, "max_body": 4194304},   # the settings the vectors assume
   "vectors": [VECTOR, ...]}

  VECTOR:
    name         unique across all files, e.g. "iris-logreg-boundary-3"
    description  what it covers
    model        the model concerned, or null
    kind         "predict" (expects predictions) | "error" (expects an error)
    transport    "any" (gRPC and HTTP) | "http" | "grpc"
    core         true if the language cores (Python Predictor, Go predictor) run it too: the
                 outcome is decided by the core's validation / inference, not by a transport
  and the request, one of:
    request      PredictRequest in the proto3 JSON mapping. HTTP: POST /v1/predict with this
                 object as an application/json body. gRPC: parsed with the JSON mapping
                 (numbers as strings, "NaN", null = default) and sent as the binary message.
    generate     {"model", "row", "rows": N[, "pad_to_bytes": B]}: N copies of row, built at
                 test time; pad_to_bytes pads the encoded request to exactly B bytes (HTTP:
                 trailing JSON whitespace; gRPC: one unknown length-delimited field, number 1000).
  optionally:
    http         {"method" (POST), "path" (/v1/predict), "content_type" (application/json;
                 null = no header), "body" (raw text) | "body_base64" (raw bytes, e.g. invalid
                 UTF-8)}: overrides for the HTTP request; a raw body replaces `request`.
    grpc         {"deadline_ms": N}: call with an N ms timeout; 0 = a deadline that has
                 already passed when the call starts;
                 {"float_bits": {"row", "col", "bits": "0x7fc00001"}}: that binary float32 of
                 the message gets exactly these bits (NaN payloads, signaling NaN, ±Inf).
  and the expectation:
    expect       {"model", "model_version", "predictions": [...],
                  "tolerance": {"probabilities": 1e-5, "value": 1e-3}}
                   classifier prediction: {"label", "class_index", "probabilities"}: label and
                   class_index exact, each probability within tolerance (absolute);
                   regressor prediction: {"value"} within tolerance. Expected numbers come from
                   scikit-learn (float64), never from a server.
               | {"error": {"grpc_code": "INVALID_ARGUMENT", "http_status": 400 (null for
                   gRPC-only vectors), "message_matches": [regex...] (optional, e.g. the row
                   index), "http_headers": {"Allow": "POST"} (optional: header lists token)}}
                   HTTP errors must also carry the body {"code": <grpc_code's number>,
                   "message": non-empty}.
"""

import argparse
import json
import os

from tests.vectors import gen_edges, gen_predict
from tests.vectors.vectorspec import FORMAT

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

SEEDS = {"iris-logreg": 11, "breast-cancer-rf": 12, "digits-mlp": 13, "diabetes-gbr": 14}


def _format(value, indent=0):
    """JSON with one line per object field / list item, except that short values and lists of
    numbers or strings stay on one line (readable diffs, small files)."""
    flat = json.dumps(value, ensure_ascii=True, separators=(", ", ": "))
    scalars = isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value)
    if not isinstance(value, (dict, list)) or len(flat) <= 100 - indent or scalars or not value:
        return flat
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(value, dict):
        items = ["%s%s: %s" % (inner, json.dumps(k), _format(v, indent + 1)) for k, v in value.items()]
        return "{\n%s\n%s}" % (",\n".join(items), pad)
    items = ["%s%s" % (inner, _format(v, indent + 1)) for v in value]
    return "[\n%s\n%s]" % (",\n".join(items), pad)


def document(description, vectors):
    return {
        "format": FORMAT,
        "description": description,
        "server": {"max_batch": gen_edges.MAX_BATCH, "max_body": gen_edges.MAX_BODY},
        "vectors": vectors,
    }


def build(models_dir):
    fitted = gen_predict.fit_all(models_dir)
    files = {}
    for name, model in fitted.items():
        files["predict-%s.json" % name] = document(
            "%s: held-out rows, points near decision boundaries, batches of 1, 64%s; expected "
            "answers from the re-trained scikit-learn estimator"
            % (name, " and 1024" if model.X.shape[1] <= 10 else ""),
            gen_predict.model_vectors(model, SEEDS[name]),
        )
    iris = fitted["iris-logreg"]
    files["errors.json"] = document(
        "every row of the contract's error table (proto/predict/v1/errors.json) that a client can cause, "
        "on both protocols",
        gen_edges.error_table(),
    )
    files["limits.json"] = document(
        "request size limits (--max-body, the JSON value bound), bodies built at test time",
        gen_edges.limits(iris, max(model.X.shape[1] for model in fitted.values())),
    )
    files["json-mapping.json"] = document(
        "edges of the proto3 JSON mapping and of the HTTP routes (media type, methods, unknown routes)",
        gen_edges.json_mapping(iris),
    )
    files["grpc-only.json"] = document("gRPC-only edges: non-finite binary floats", gen_edges.grpc_only())
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=os.path.join(ROOT, "models"))
    parser.add_argument("--out", default=HERE)
    args = parser.parse_args()
    files = build(args.models)
    names = [v["name"] for doc in files.values() for v in doc["vectors"]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SystemExit("duplicate vector names: %s" % duplicates)
    for stale in os.listdir(args.out):
        if stale.endswith(".json") and stale not in files:
            os.remove(os.path.join(args.out, stale))
    for filename, doc in files.items():
        with open(os.path.join(args.out, filename), "w", encoding="utf-8") as f:
            f.write(_format(doc) + "\n")
    print("vectors: wrote %d vectors in %d files to %s" % (len(names), len(files), args.out))


if __name__ == "__main__":
    main()
