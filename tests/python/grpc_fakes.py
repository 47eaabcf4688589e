"""grpc's side of a handler call, faked in process: `Context`, just enough of
grpc.ServicerContext for the gRPC adapters' handlers (its deadline, an active client, abort), and
`Aborted`, what its abort raises."""


class Aborted(Exception):
    """args: (code, details)."""


class Context:
    def __init__(self, remaining=None):
        self.time_remaining = lambda: remaining
        self.is_active = lambda: True

    def abort(self, code, details):
        raise Aborted(code, details)
