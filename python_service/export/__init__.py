"""The export workflow: scikit-learn → ONNX, parity-validated, written atomically into the model
repository (`python -m python_service export`, see `cli`)."""
