"""MLServer's custom runtime for servebench's peers stage: the very model.onnx the servebench servers
serve, run by ONNX Runtime with the same session options (one intra-op and one inter-op thread), its
answer shaped as servebench's V2 answer (proto/inference/model.json): `label` (BYTES), `class_index`
(INT32) and `probabilities` (FP32) for a classifier, `value` (FP32) for a regressor.

Runs inside MLServer's own virtualenv (.tools/peers/mlserver), not the bench's: MLServer imports it
as `mlserver_onnx.OnnxModel` (model-settings.json `implementation`) with this folder on PYTHONPATH.
The model's folder holds model.onnx and its metadata.json, copied from models/ by bench.run.peers.
"""

import json
import os

import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec, StringCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri


class OnnxModel(MLModel):
    async def load(self) -> bool:
        uri = await get_model_uri(self._settings, wellknown_filenames=["model.onnx"])
        with open(os.path.join(os.path.dirname(uri), "metadata.json"), encoding="utf-8") as fh:
            self._meta = json.load(fh)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(uri, options, providers=["CPUExecutionProvider"])
        self._output = self._meta.get("probabilities_output") or self._meta["value_output"]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        rows = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32, copy=False)
        result = self._session.run([self._output], {self._meta["input_name"]: rows})[0]
        if self._meta["task"] == "classification":
            index = np.argmax(result, axis=1).astype(np.int32)
            labels = [self._meta["class_labels"][i] for i in index]
            outputs = [
                StringCodec.encode_output("label", labels),
                NumpyCodec.encode_output("class_index", index),
                NumpyCodec.encode_output("probabilities", result.astype(np.float32, copy=False)),
            ]
        else:
            outputs = [NumpyCodec.encode_output("value", result[:, 0].astype(np.float32))]
        return InferenceResponse(model_name=self.name, model_version=self.version, id=payload.id, outputs=outputs)
