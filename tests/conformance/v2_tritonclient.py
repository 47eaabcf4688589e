"""The protocol's reference client, Triton's tritonclient (requirements-test.txt), driven in a child
process: `python -m tests.conformance.v2_tritonclient < plan.json > results.json`.

Why a child: tritonclient.grpc's generated stubs register the `inference.*` messages in protobuf's
default descriptor pool, as ours (python_service/gen/inference) do, and one process cannot hold two
files defining the same symbols ("duplicate symbol 'inference.ServerLiveRequest'"). This process
imports tritonclient only; the test process imports our stubs only.

The plan: {"http": "HOST:PORT", "grpc": "HOST:PORT" (either may be absent), "calls": [call, ...]};
each call has an "id",
an "api" ("http" or "grpc") and a "kind":
- "infer": {model, version, rows, binary_input (http), outputs: null or [[name, binary], ...]} →
  {model_name, model_version, outputs: {name: {datatype, shape, data}}}, or {error: {status, message}}
  (for a request the server refuses: also give "datatype" to send the rows as, e.g. FP64, and
  "input_name");
- "health": {models} → {live, ready, model_ready: {model: bool}};
- "server_metadata", "model_metadata": {model, version} → the client's dict (gRPC: the JSON mapping
  with proto field names);
- "descriptors": tritonclient's own descriptors of the `inference` messages → {message: {field:
  [number, type, repeated, message type]}}.
The results: {"results": {id: result}}.
"""

import json
import sys

import numpy as np
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from google.protobuf.json_format import MessageToDict
from tritonclient.grpc import service_pb2
from tritonclient.utils import InferenceServerException

_NP = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32}


def _infer(client, mod, call):
    rows = np.array(call["rows"], dtype=_NP[call.get("datatype", "FP32")])
    tensor = mod.InferInput(call.get("input_name", "input"), list(rows.shape), call.get("datatype", "FP32"))
    if mod is thttp:
        tensor.set_data_from_numpy(rows, binary_data=call.get("binary_input", True))
        outputs = (
            [mod.InferRequestedOutput(n, binary_data=b) for n, b in call["outputs"]] if call.get("outputs") else None
        )
    else:
        tensor.set_data_from_numpy(rows)
        outputs = [mod.InferRequestedOutput(n) for n, _ in call["outputs"]] if call.get("outputs") else None
    result = client.infer(call["model"], [tensor], model_version=call.get("version") or "", outputs=outputs)
    response = result.get_response()
    if mod is tgrpc:
        response = MessageToDict(response, preserving_proto_field_name=True)
    out = {}
    for o in response["outputs"]:
        data = result.as_numpy(o["name"])
        values = [x.decode() if isinstance(x, bytes) else x for x in data.flatten().tolist()]
        out[o["name"]] = {"datatype": o["datatype"], "shape": list(data.shape), "data": values}
    return {"model_name": response["model_name"], "model_version": response.get("model_version"), "outputs": out}


def _field(f):
    """A field as [number, type, repeated, message type]."""
    return [f.number, f.type, f.is_repeated, f.message_type.full_name if f.message_type else None]


def _descriptors():
    out = {}
    for message in service_pb2.DESCRIPTOR.message_types_by_name.values():
        for m in [message, *message.nested_types]:
            out[m.full_name] = {f.name: _field(f) for f in m.fields}
    return out


def run(plan):
    ca = plan.get("ca")  # over TLS: verify the servers with this CA
    tls = {"http": {"ssl": True, "ssl_options": {"ca_certs": ca}}, "grpc": {"ssl": True, "root_certificates": ca}}
    modules = {"http": thttp, "grpc": tgrpc}
    clients = {
        api: (mod.InferenceServerClient(plan[api], **(tls[api] if ca else {})), mod)
        for api, mod in modules.items()
        if plan.get(api)
    }
    results = {}
    for call in plan["calls"]:
        kind = call["kind"]
        if kind == "descriptors":
            results[call["id"]] = _descriptors()
            continue
        client, mod = clients[call["api"]]
        try:
            if kind == "infer":
                results[call["id"]] = _infer(client, mod, call)
            elif kind == "health":
                results[call["id"]] = {
                    "live": client.is_server_live(),
                    "ready": client.is_server_ready(),
                    "model_ready": {m: client.is_model_ready(m) for m in call["models"]},
                }
            elif kind == "server_metadata":
                results[call["id"]] = client.get_server_metadata(**({"as_json": True} if mod is tgrpc else {}))
            elif kind == "model_metadata":
                kwargs = {"as_json": True} if mod is tgrpc else {}
                results[call["id"]] = client.get_model_metadata(call["model"], call.get("version") or "", **kwargs)
            else:
                raise ValueError("unknown call kind %r" % kind)
        except InferenceServerException as e:
            results[call["id"]] = {"error": {"status": str(e.status()), "message": e.message()}}
    for client, _ in clients.values():
        client.close()
    return {"results": results}


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
