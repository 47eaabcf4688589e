"""Error-table, limit, JSON-mapping and gRPC-only vectors.

Expected errors come from the contract's error table (proto/predict/v1/errors.json) and validation
order; the few edge cases that must succeed (numbers written as strings, a body exactly at the size
limit, ...) take their expected predictions from the re-trained scikit-learn model
(gen_predict.Fitted.expect).
"""

import base64
import json

import numpy as np

from python_service import contract

MAX_BATCH = 1024
MAX_BODY = 4194304
# The longest run of digits a JSON body may hold (the contract's error table).
NUMBER_MAX_DIGITS = contract.load("errors.json")["json_number_max_digits"]
IRIS = "iris-logreg"
SEED_ROW = [5.1, 3.5, 1.4, 0.2]  # the seed post's example: setosa
# The HTTP status of each code, from the contract's error table (proto/predict/v1/errors.json).
STATUS = contract.load("errors.json")["http_status_for_code"]


def _req(rows, model=IRIS):
    return {"model": model, "instances": [{"features": r} for r in rows]}


def error(name, description, code, *, transport="any", core=None, status=None, matches=(), headers=None, **fields):
    """An error vector. `fields` holds request / generate / http / grpc blocks."""
    want = {"grpc_code": code, "http_status": None if transport == "grpc" else (status or STATUS[code])}
    if matches:
        want["message_matches"] = list(matches)
    if headers:
        want["http_headers"] = headers
    if core is None:
        core = transport != "http" and "generate" not in fields
    return dict(
        {
            "name": name,
            "description": description,
            "model": fields.pop("model", None),
            "kind": "error",
            "transport": transport,
            "core": core,
        },
        **fields,
        expect={"error": want},
    )


def success(name, description, fitted, rows, *, transport="any", core=None, **fields):
    """A prediction vector whose request is written by hand (strings, padding, headers...)."""
    values = np.array([[float(v) for v in row] for row in rows], dtype=np.float64)
    if not fitted.accept(values).all():
        raise SystemExit("vector %r: input too close to a boundary or ONNX disagrees" % name)
    if core is None:
        core = transport == "any" and "generate" not in fields
    return dict(
        {
            "name": name,
            "description": description,
            "model": fitted.name,
            "kind": "predict",
            "transport": transport,
            "core": core,
        },
        **fields,
        expect=fitted.expect(values),
    )


def raw(body, **http):
    """An http block sending `body` (str, or bytes that are not UTF-8) as is."""
    if isinstance(body, bytes):
        return dict(http, body_base64=base64.b64encode(body).decode("ascii"))
    return dict(http, body=body)


def error_table():
    bad = lambda name, text, rows, **kw: error(name, text, "INVALID_ARGUMENT", request=_req(rows), model=IRIS, **kw)
    seed4 = [SEED_ROW] * 4
    return [
        error(
            "unknown-model", "a model the server does not have", "NOT_FOUND", request=_req([SEED_ROW], "no-such-model")
        ),
        error(
            "unknown-model-case", "model names are case-sensitive", "NOT_FOUND", request=_req([SEED_ROW], "Iris-Logreg")
        ),
        error(
            "unknown-model-no-instances",
            "validation order: the model is checked before the instances",
            "NOT_FOUND",
            request={"model": "no-such-model"},
        ),
        error("empty-model", "model name is the empty string", "INVALID_ARGUMENT", request=_req([SEED_ROW], "")),
        error(
            "missing-model",
            "no model field at all",
            "INVALID_ARGUMENT",
            request={"instances": [{"features": SEED_ROW}]},
        ),
        error("empty-object", "the empty request {}: empty model comes first", "INVALID_ARGUMENT", request={}),
        error("no-instances-missing", "no instances field", "INVALID_ARGUMENT", request={"model": IRIS}, model=IRIS),
        error(
            "no-instances-empty-list",
            "instances: []",
            "INVALID_ARGUMENT",
            request={"model": IRIS, "instances": []},
            model=IRIS,
        ),
        error(
            "null-instances",
            "proto3 JSON: null means the default, so no instances",
            "INVALID_ARGUMENT",
            request={"model": IRIS, "instances": None},
            model=IRIS,
        ),
        error(
            "null-model",
            "proto3 JSON: null means the default, so an empty model name",
            "INVALID_ARGUMENT",
            request={"model": None, "instances": [{"features": SEED_ROW}]},
        ),
        bad(
            "too-few-features",
            "row 5 of 6 has 3 of 4 features; the message names row 5",
            [SEED_ROW] * 5 + [SEED_ROW[:3]],
            matches=[r"\b5\b"],
        ),
        bad("too-many-features", "one row of 5 features for a 4-feature model", [SEED_ROW + [1.0]], matches=[r"\b0\b"]),
        bad("zero-features", "row 3 has an empty feature list", seed4[:3] + [[]], matches=[r"\b3\b"]),
        bad(
            "ragged-rows",
            "rows of 4, 4, 5 and 4 features; the message names row 2",
            [SEED_ROW, SEED_ROW, SEED_ROW + [0.5], SEED_ROW],
            matches=[r"\b2\b"],
        ),
        error(
            "null-features",
            "features: null means no features: wrong count",
            "INVALID_ARGUMENT",
            request={"model": IRIS, "instances": [{"features": None}]},
            model=IRIS,
        ),
        error(
            "empty-instance",
            "an instance {} has no features: wrong count",
            "INVALID_ARGUMENT",
            request={"model": IRIS, "instances": [{}]},
            model=IRIS,
        ),
        bad(
            "count-before-finite",
            "validation order: row 0 holds NaN but row 1 has the wrong "
            "count; the count check comes first, so the message names row 1",
            [[5.1, 3.5, "NaN", 0.2], [5.1, 3.5, 1.4]],
            matches=[r"\b1\b"],
        ),
        bad(
            "nan-string",
            '"NaN" at row 2, column 3; the message names both',
            [SEED_ROW, SEED_ROW, [5.1, 3.5, 1.4, "NaN"], SEED_ROW],
            matches=[r"\b2\b", r"\b3\b"],
        ),
        bad(
            "infinity-string",
            '"Infinity" at row 0, column 1',
            [[5.1, "Infinity", 1.4, 0.2]],
            matches=[r"\b0\b", r"\b1\b"],
        ),
        bad(
            "negative-infinity-string",
            '"-Infinity" at row 1, column 2',
            [SEED_ROW, [5.1, 3.5, "-Infinity", 0.2]],
            matches=[r"\b1\b", r"\b2\b"],
        ),
        error(
            "batch-over-max",
            "%d rows, one more than --max-batch" % (MAX_BATCH + 1),
            "INVALID_ARGUMENT",
            model=IRIS,
            core=True,
            generate={"model": IRIS, "row": SEED_ROW, "rows": MAX_BATCH + 1},
        ),
        error(
            "deadline-expired",
            "gRPC call whose deadline has already passed when it "
            "starts: a client sees DEADLINE_EXCEEDED (grpcio ends it before sending); the "
            "cores' own check of an expired deadline runs in their vector tests",
            "DEADLINE_EXCEEDED",
            transport="grpc",
            request=_req([SEED_ROW]),
            model=IRIS,
            grpc={"deadline_ms": 0},
        ),
    ]


def _long_number_body(digits):
    """An iris request whose first feature is 0.000…1 written with `digits` digits after the point."""
    feature = "0." + "0" * (digits - 1) + "1"
    return '{"model":"%s","instances":[{"features":[%s,%s]}]}' % (IRIS, feature, ",".join(map(str, SEED_ROW[1:])))


def limits(fitted_iris, widest_features):
    digits_row = [10.25] * 64
    value_bound = MAX_BATCH * (widest_features + 1)
    over_rows = value_bound // len(SEED_ROW) + 1
    many = 17000
    pb_size = many * (2 + 2 + 4 * 64)
    json_size = len(json.dumps({"features": digits_row}, separators=(",", ":"))) * many
    assert pb_size > MAX_BODY and json_size > MAX_BODY
    return [
        success(
            "body-at-limit",
            "request padded to exactly --max-body (%d) bytes: HTTP with "
            "trailing JSON whitespace, gRPC with an unknown field; accepted" % MAX_BODY,
            fitted_iris,
            [SEED_ROW],
            generate={"model": IRIS, "row": SEED_ROW, "rows": 1, "pad_to_bytes": MAX_BODY},
        ),
        error(
            "body-over-limit",
            "the same request padded to --max-body + 1 bytes",
            "RESOURCE_EXHAUSTED",
            model=IRIS,
            generate={"model": IRIS, "row": SEED_ROW, "rows": 1, "pad_to_bytes": MAX_BODY + 1},
        ),
        error(
            "oversize-many-rows",
            "%d digits rows: over the size limit on both protocols "
            "(the framework refuses it before the batch limit is checked)" % many,
            "RESOURCE_EXHAUSTED",
            model="digits-mlp",
            generate={"model": "digits-mlp", "row": digits_row, "rows": many},
        ),
        success(
            "json-number-longest",
            "a feature written with %d digits (0.000…1, which is 0 as a float32): the longest a number "
            "may be, read" % NUMBER_MAX_DIGITS,
            fitted_iris,
            [[0.0] + SEED_ROW[1:]],
            transport="http",
            http=raw(_long_number_body(NUMBER_MAX_DIGITS)),
        ),
        error(
            "json-number-too-long",
            "the same feature with one digit more: refused before decoding",
            "INVALID_ARGUMENT",
            transport="http",
            model=IRIS,
            matches=[r"more than %d digits" % NUMBER_MAX_DIGITS],
            http=raw(_long_number_body(NUMBER_MAX_DIGITS + 1)),
        ),
        error(
            "json-over-value-bound",
            "%d iris rows, %d values: more than the value bound, --max-batch × (widest model's %d "
            "features + 1) = %d, so refused before decoding (not as too large a batch), the bound in "
            "the message" % (over_rows, over_rows * len(SEED_ROW), widest_features, value_bound),
            "INVALID_ARGUMENT",
            transport="http",
            model=IRIS,
            matches=[r"at most %d\b" % value_bound],
            generate={"model": IRIS, "row": SEED_ROW, "rows": over_rows},
        ),
    ]


def grpc_only():
    bits = lambda name, text, row, col, value: error(
        name,
        text,
        "INVALID_ARGUMENT",
        transport="grpc",
        model=IRIS,
        request=_req([SEED_ROW] * 3),
        matches=[r"\b%d\b" % row, r"\b%d\b" % col],
        grpc={"float_bits": {"row": row, "col": col, "bits": value}},
    )
    return [
        bits(
            "grpc-nan-binary",
            "a quiet NaN with a payload (0x7fc00001) in the binary float at row 1, column 2",
            1,
            2,
            "0x7fc00001",
        ),
        bits("grpc-signaling-nan-binary", "a signaling NaN (0x7f800001) at row 0, column 0", 0, 0, "0x7f800001"),
        bits("grpc-infinity-binary", "+Inf (0x7f800000) at row 2, column 3", 2, 3, "0x7f800000"),
        bits("grpc-negative-infinity-binary", "-Inf (0xff800000) at row 1, column 1", 1, 1, "0xff800000"),
    ]


def json_mapping(fitted_iris):
    ok = lambda name, text, rows, **kw: success(name, text, fitted_iris, rows, **kw)
    body = json.dumps(_req([SEED_ROW]))
    b400 = lambda name, text, body_text, **kw: error(
        name, text, "INVALID_ARGUMENT", transport="http", model=IRIS, http=raw(body_text), **kw
    )
    feat = lambda name, text, features: b400(
        name, text, '{"model":"iris-logreg","instances":[{"features":%s}]}' % features
    )
    route = lambda name, text, code, status, method, path, **kw: error(
        name,
        text,
        code,
        transport="http",
        status=status,
        http=raw(body if method in ("POST", "PUT") else "", method=method, path=path),
        **kw,
    )
    ct415 = lambda name, text, ctype: error(
        name, text, "UNIMPLEMENTED", transport="http", status=415, model=IRIS, http=raw(body, content_type=ctype)
    )
    return [
        ok(
            "seed-example",
            "the seed post's example [5.1, 3.5, 1.4, 0.2] is setosa",
            [SEED_ROW],
            request=_req([SEED_ROW]),
        ),
        ok(
            "numbers-as-strings",
            "every feature written as a JSON string",
            [SEED_ROW],
            request=_req([["5.1", "3.5", "1.4", "0.2"]]),
        ),
        ok(
            "numbers-exponent-forms",
            "exponent notation, as numbers and as strings",
            [SEED_ROW],
            request=_req([["5.1e0", 35e-1, "0.14E1", 2e-1]]),
        ),
        ok("numbers-integers", "integral JSON numbers", [[5, 3, 1, 0]], request=_req([[5, 3, 1, 0]])),
        ok(
            "numbers-tiny-and-negative-zero",
            '"-0", a float32 subnormal (1e-40) and 1e-50 (rounds to 0)',
            [[-0.0, float(np.float32(1e-40)), 0.0, 0.2]],
            request=_req([["-0", 1e-40, 1e-50, 0.2]]),
        ),
        ok(
            "content-type-charset",
            "Content-Type with a charset parameter is accepted",
            [SEED_ROW],
            transport="http",
            http=raw(body, content_type="application/json; charset=utf-8"),
        ),
        ok(
            "whitespace-and-field-order",
            "pretty-printed body, instances before model",
            [SEED_ROW],
            transport="http",
            http=raw(
                '\n{\n\t"instances" : [ { "features" : [ 5.1 , 3.5 , 1.4 , 0.2 ] } ] ,'
                '\r\n  "model" : "iris-logreg"\n}\n'
            ),
        ),
        ok(
            "unicode-escape-in-model",
            r'model written as "iris\u002dlogreg"',
            [SEED_ROW],
            transport="http",
            http=raw('{"model":"iris\\u002dlogreg","instances":[{"features":[5.1,3.5,1.4,0.2]}]}'),
        ),
        b400("malformed-truncated", "truncated JSON", body[:-3]),
        b400("malformed-trailing-garbage", "a valid object followed by garbage", body + " x"),
        b400("malformed-two-objects", "two JSON objects in one body", body + body),
        b400("top-level-array", "a JSON array instead of an object", "[]"),
        b400("top-level-null", "JSON null instead of an object", "null"),
        b400("top-level-string", "a JSON string instead of an object", '"iris-logreg"'),
        b400("empty-body", "an empty body", ""),
        b400("whitespace-body", "a body of whitespace only", " \n "),
        b400("unknown-field", "an unknown top-level field", body[:-1] + ',"extra":1}'),
        b400(
            "unknown-field-in-instance",
            "an unknown field inside an instance",
            '{"model":"iris-logreg","instances":[{"features":[5.1,3.5,1.4,0.2],"weight":1}]}',
        ),
        b400(
            "unknown-field-wrong-case",
            "field names are case-sensitive: Model is unknown",
            body.replace('"model"', '"Model"'),
        ),
        b400(
            "duplicate-field",
            "the same field twice",
            '{"model":"iris-logreg","model":"iris-logreg","instances":[{"features":[1,2,3,4]}]}',
        ),
        b400("null-in-instances", "null as an element of instances", '{"model":"iris-logreg","instances":[null]}'),
        feat("null-in-features", "null as an element of features", "[5.1,null,1.4,0.2]"),
        b400("wrong-type-model", "model is a number", '{"model":5,"instances":[]}'),
        b400(
            "wrong-type-instances",
            "instances is an object",
            '{"model":"iris-logreg","instances":{"features":[5.1,3.5,1.4,0.2]}}',
        ),
        feat("wrong-type-features-string", "features is one string", '"5.1,3.5,1.4,0.2"'),
        feat("wrong-type-feature-bool", "a boolean where a float belongs", "[true,3.5,1.4,0.2]"),
        feat("wrong-type-feature-array", "a nested array where a float belongs", "[[5.1],3.5,1.4,0.2]"),
        feat("wrong-type-feature-object", "an object where a float belongs", '[{"v":5.1},3.5,1.4,0.2]'),
        feat("feature-string-empty", "an empty string where a float belongs", '["",3.5,1.4,0.2]'),
        feat("feature-string-hex", "a hexadecimal string", '["0x5",3.5,1.4,0.2]'),
        feat("feature-string-underscore", "a string with a digit separator is not a number", '["5_1",3.5,1.4,0.2]'),
        feat("feature-unquoted-nan", "NaN without quotes is not JSON", "[NaN,3.5,1.4,0.2]"),
        feat("feature-unquoted-infinity", "Infinity without quotes is not JSON", "[Infinity,3.5,1.4,0.2]"),
        feat(
            "feature-lowercase-nan-string", '"nan" is not one of the mapping\'s special values', '["nan",3.5,1.4,0.2]'
        ),
        feat(
            "feature-lowercase-inf-string", '"inf" is not one of the mapping\'s special values', '["inf",3.5,1.4,0.2]'
        ),
        feat("feature-out-of-range", "1e39 is outside float32's range", "[1e39,3.5,1.4,0.2]"),
        feat("feature-string-out-of-range", '"1e39" is outside float32\'s range', '["1e39",3.5,1.4,0.2]'),
        error(
            "invalid-utf8",
            "a body that is not UTF-8 (0xff inside the model name)",
            "INVALID_ARGUMENT",
            transport="http",
            model=IRIS,
            http=raw(body.encode().replace(b"iris-", b"iris\xff-")),
        ),
        ct415("content-type-missing", "no Content-Type header", None),
        ct415("content-type-text", "Content-Type: text/plain", "text/plain"),
        ct415(
            "content-type-form", "Content-Type: application/x-www-form-urlencoded", "application/x-www-form-urlencoded"
        ),
        ct415("content-type-json-prefix", "Content-Type: application/jsonx", "application/jsonx"),
        route(
            "wrong-method-get-predict",
            "GET on POST /v1/predict",
            "UNIMPLEMENTED",
            405,
            "GET",
            "/v1/predict",
            headers={"Allow": "POST"},
        ),
        route(
            "wrong-method-put-predict",
            "PUT with a valid body on POST /v1/predict",
            "UNIMPLEMENTED",
            405,
            "PUT",
            "/v1/predict",
            headers={"Allow": "POST"},
        ),
        route(
            "wrong-method-post-healthz",
            "POST on GET /healthz",
            "UNIMPLEMENTED",
            405,
            "POST",
            "/healthz",
            headers={"Allow": "GET"},
        ),
        route(
            "wrong-method-delete-model",
            "DELETE on GET /v1/models/{name}",
            "UNIMPLEMENTED",
            405,
            "DELETE",
            "/v1/models/iris-logreg",
            headers={"Allow": "GET"},
        ),
        route("unknown-route", "GET /v3/predict", "NOT_FOUND", 404, "GET", "/v3/predict"),
        route("unknown-route-post", "POST /v1/predictions", "NOT_FOUND", 404, "POST", "/v1/predictions"),
        route("unknown-route-root", "GET /", "NOT_FOUND", 404, "GET", "/"),
        route(
            "unknown-model-route", "GET /v1/models/no-such-model", "NOT_FOUND", 404, "GET", "/v1/models/no-such-model"
        ),
    ]
