"""servebench's Python side: the export workflow (`python_service.export`) and the server
(`python_service.server`), over the contract in proto/predict/v1 (stubs in `python_service.gen`)."""
