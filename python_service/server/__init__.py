"""The Python server, laid out as go_service is: `core` (the predictor, codec, errors, config,
repository, admission, metrics), thin protocol adapters `httpapi` and `grpcapi`, and `process`
(the command line and the process tree: `python -m python_service serve`)."""
