"""The Open Inference Protocol (KServe "V2") beside predict.v1: infer.py (what both adapters share),
rest.py + rest_codec.py (REST), rpc.py (gRPC inference.GRPCInferenceService); proto/inference."""
