"""The Python server: the core `Predictor`, thin gRPC and HTTP adapters, and the process tree
(`python -m python_service serve`, see `cli`)."""
