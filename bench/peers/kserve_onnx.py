"""KServe's Python model server (the `kserve` package's ModelServer) for servebench's peers stage:
a custom `kserve.Model` running the very model.onnx the servebench servers serve with ONNX Runtime
(one intra-op and one inter-op thread), its V2 answer shaped as servebench's
(proto/inference/model.json): `label` (BYTES), `class_index` (INT32) and `probabilities` (FP32) for a
classifier, `value` (FP32) for a regressor. KServe ships no ONNX runtime of its own in Python (its
ONNX serving is Triton's), so a custom model is how its Python server serves one.

Runs inside KServe's own virtualenv (.tools/peers/kserve):

    python kserve_onnx.py --model_dirs DIR [DIR …] --http_port P --grpc_port Q [ModelServer flags]

Each DIR is named after its model and holds model.onnx and its metadata.json (copied from models/
by bench.run.peers).
"""

import argparse
import json
import os

import numpy as np
import onnxruntime as ort
from kserve import Model, ModelServer, model_server
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse


class OnnxModel(Model):
    def __init__(self, name: str, model_dir: str):
        super().__init__(name)
        self.model_dir = model_dir
        self.load()

    def load(self) -> bool:
        with open(os.path.join(self.model_dir, "metadata.json"), encoding="utf-8") as fh:
            self.meta = json.load(fh)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        path = os.path.join(self.model_dir, "model.onnx")
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.output = self.meta.get("probabilities_output") or self.meta["value_output"]
        self.ready = True
        return self.ready

    def get_input_types(self) -> list[dict]:
        return [{"name": self.meta["input_name"], "datatype": "FP32", "shape": [-1, self.meta["n_features"]]}]

    def get_output_types(self) -> list[dict]:
        if self.meta["task"] != "classification":
            return [{"name": "value", "datatype": "FP32", "shape": [-1]}]
        n = len(self.meta["class_labels"])
        return [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "class_index", "datatype": "INT32", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, n]},
        ]

    def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        rows = payload.inputs[0].as_numpy().astype(np.float32, copy=False)
        result = self.session.run([self.output], {self.meta["input_name"]: rows})[0]
        if self.meta["task"] == "classification":
            index = np.argmax(result, axis=1).astype(np.int32)
            labels = [self.meta["class_labels"][i] for i in index]
            outputs = [
                InferOutput("label", [len(labels)], "BYTES", labels),
                InferOutput("class_index", list(index.shape), "INT32", index),
                InferOutput("probabilities", list(result.shape), "FP32", result.astype(np.float32, copy=False)),
            ]
        else:
            value = result[:, 0].astype(np.float32)
            outputs = [InferOutput("value", list(value.shape), "FP32", value)]
        return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=outputs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--model_dirs", nargs="+", required=True)
    args, _ = parser.parse_known_args()
    ModelServer().start([OnnxModel(os.path.basename(os.path.normpath(d)), d) for d in args.model_dirs])
