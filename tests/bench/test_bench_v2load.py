"""The bench's V2 driver (bench/run/v2load.py): a request of the server's model shape from the bench's
own rows, every load tool's command line, and answers of every peer's form read back as predictions."""

import json
import struct
from types import SimpleNamespace

import numpy as np
import pytest

from bench.run import v2load
from bench.run.loadgen import Tools
from python_service.gen.inference import open_inference_grpc_pb2 as pb

IRIS = {"task": "classification", "class_labels": ["setosa", "versicolor", "virginica"]}
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)


def shape(outputs=("label", "class_index", "probabilities"), datatype="FP32"):
    doc = {
        "name": "iris-logreg",
        "inputs": [{"name": "input", "datatype": datatype, "shape": [-1, 4]}],
        "outputs": [{"name": n, "datatype": "FP32", "shape": [-1]} for n in outputs],
    }
    return v2load.shape_of("iris-logreg", doc)


def test_the_shape_comes_from_the_metadata_gRPC_int64_strings_included():
    got = v2load.shape_of("m", {"inputs": [{"name": "x", "datatype": "FP32", "shape": ["-1", "30"]}]})
    assert (got.input_name, got.datatype, got.width, got.outputs) == ("x", "FP32", 30, ())


@pytest.mark.parametrize(
    "inputs", [[], [{"name": "a", "datatype": "FP32", "shape": [-1, 4]}] * 2, [{"name": "a", "datatype": "FP32"}]]
)
def test_a_model_the_bench_cannot_drive_is_refused(inputs):
    with pytest.raises(v2load.V2Error):
        v2load.shape_of("m", {"inputs": inputs})


def test_rest_and_grpc_requests_carry_the_rows_exactly_and_ask_for_every_output():
    rest = v2load.rest_request(shape(), ROWS)
    assert rest["inputs"][0] | {"data": None} == {"name": "input", "datatype": "FP32", "shape": [2, 4], "data": None}
    assert np.array(rest["inputs"][0]["data"], dtype=np.float32).tobytes() == ROWS.tobytes()
    assert rest["outputs"] == [{"name": "label"}, {"name": "class_index"}, {"name": "probabilities"}]
    grpc = v2load.grpc_request(shape(outputs=()), ROWS)
    assert "outputs" not in grpc and grpc["model_name"] == "iris-logreg"
    message = v2load.json_format.ParseDict(grpc, pb.ModelInferRequest())  # what ghz and openloop parse
    assert np.array(message.inputs[0].contents.fp32_contents, dtype=np.float32).tobytes() == ROWS.tobytes()
    assert list(message.inputs[0].shape) == [2, 4]


def test_a_model_of_another_width_or_an_integer_input_is_refused():
    with pytest.raises(v2load.V2Error, match="takes 4 features"):
        v2load.rest_request(shape(), ROWS[:, :3])
    with pytest.raises(v2load.V2Error, match="INT64"):
        v2load.rest_request(shape(datatype="INT64"), ROWS)


def test_body_files_are_made_from_the_bench_own_body_once_per_server(tmp_path, monkeypatch):
    predict = tmp_path / "iris-logreg-batch2.json"
    predict.write_text(json.dumps({"model": "iris-logreg", "instances": [{"features": r.tolist()} for r in ROWS]}))
    asked = []
    monkeypatch.setattr(v2load, "metadata", lambda p, a, m: asked.append((p, a, m)) or shape())
    monkeypatch.setattr(v2load, "_files", {})
    bodies = {("iris-logreg", 2, "json"): str(predict)}
    path = v2load.body_file("v2-http", "127.0.0.1:1", bodies, "iris-logreg", 2)
    assert v2load.body_file("v2-http", "127.0.0.1:1", bodies, "iris-logreg", 2) == path and len(asked) == 1
    with open(path) as fh:
        assert json.load(fh) == v2load.rest_request(shape(), ROWS)
    grpc_path = v2load.body_file("v2-grpc", "127.0.0.1:2", bodies, "iris-logreg", 2)
    with open(grpc_path) as fh:
        assert grpc_path != path and "contents" in json.load(fh)["inputs"][0]


def test_closed_loop_posts_to_infer_with_hey_and_calls_model_infer_with_ghz(monkeypatch):
    monkeypatch.setattr(v2load, "body_file", lambda *a: "body.json")
    tools = Tools(hey="hey", ghz="ghz", proto="p.proto", proto_root="proto")
    settings = SimpleNamespace(request_timeout_s=10, ghz_connections=1)
    plan = SimpleNamespace(settings=settings, tools=tools, client_cpus=[1], server_cpus=[0])
    tool, messages, argv = v2load.closed_loop(plan, "v2-http", "h:1", 10, {}, "iris-logreg", 1)
    assert (tool, messages, argv(1.0)[-1]) == ("hey", 1, "http://h:1/v2/models/iris-logreg/infer")
    tool, _, argv = v2load.closed_loop(plan, "v2-grpc", "h:2", 10, {}, "iris-logreg", 1)
    ghz = argv(1.0)
    assert tool == "ghz" and ghz[ghz.index("--call") + 1] == "inference.GRPCInferenceService.ModelInfer"
    assert ghz[ghz.index("--proto") + 1] == "proto/inference/open_inference_grpc.proto" and ghz[-1] == "h:2"


def test_servebench_answer_reads_back_as_predictions():
    outputs = {"label": ["setosa", "virginica"], "class_index": [0, 2], "probabilities": [0.9, 0.1, 0, 0, 0.2, 0.8]}
    got = v2load.predictions(outputs, 2, IRIS)
    assert got[1] == {"label": "virginica", "class_index": 2, "probabilities": [0.0, 0.2, 0.8], "value": None}


def test_mlserver_sklearn_answer_gets_its_labels_from_the_class():
    outputs = {"predict": [0, 2], "predict_proba": [0.9, 0.1, 0.0, 0.0, 0.2, 0.8]}
    got = v2load.predictions(outputs, 2, IRIS)
    assert [p["label"] for p in got] == ["setosa", "virginica"] and got[0]["class_index"] == 0


def test_a_regressor_value_and_missing_outputs():
    assert v2load.predictions({"predict": [1.5]}, 1, {"task": "regression"})[0]["value"] == 1.5
    with pytest.raises(v2load.V2Error, match="probabilities"):
        v2load.predictions({"predict": [0, 2]}, 2, IRIS)
    with pytest.raises(v2load.V2Error, match="class"):
        v2load.predictions({"probabilities": [0.5] * 6}, 2, IRIS)


def test_grpc_answer_mixing_typed_contents_and_raw_contents_as_kserve_does():
    answer = pb.ModelInferResponse()
    label = answer.outputs.add(name="label", datatype="BYTES", shape=[2])
    label.contents.bytes_contents.extend([b"setosa", b"virginica"])
    answer.outputs.add(name="class_index", datatype="INT32", shape=[2])
    answer.outputs.add(name="probabilities", datatype="FP32", shape=[2, 3])
    answer.raw_output_contents.extend(
        [struct.pack("<2i", 0, 2), np.array([0.9, 0.1, 0, 0, 0.2, 0.8], dtype="<f4").tobytes()]
    )
    got = v2load.outputs_of_grpc(answer)
    assert got["label"] == ["setosa", "virginica"] and got["class_index"] == [0, 2]
    assert got["probabilities"] == pytest.approx([0.9, 0.1, 0, 0, 0.2, 0.8])


def test_raw_bytes_outputs_are_length_prefixed():
    raw = struct.pack("<I", 6) + b"setosa" + struct.pack("<I", 9) + b"virginica"
    assert v2load._decode_raw("BYTES", raw) == ["setosa", "virginica"]
    assert v2load._decode_raw("INT64", struct.pack("<2q", 1, 2)) == [1, 2]


def test_rest_outputs_flat_or_nested():
    doc = {"outputs": [{"name": "probabilities", "data": [[0.1, 0.9], [0.2, 0.8]]}, {"name": "predict", "data": [1]}]}
    assert v2load.outputs_of_rest(doc) == {"probabilities": [0.1, 0.9, 0.2, 0.8], "predict": [1]}
