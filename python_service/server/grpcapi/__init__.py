"""The gRPC adapter: the PredictionService handlers over the core (service.py) and the grpcio
server, thread-pool or asyncio, with its one lifecycle (server.py)."""
