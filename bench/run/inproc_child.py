"""The Python in-process timings, run as a child pinned to the server CPUs (bench.run.inproc starts it).

Each work is what the Python server does for one request, on the same model file, the same request
bytes and the same session options, without a server around it:
- inference: onnxruntime's session.run alone (the inference phase's floor);
- protobuf: a binary PredictRequest decoded, predicted, the answer encoded (core/codec.py and the
  Predictor, as the gRPC adapter and HTTP protobuf do);
- json: the same from and to the proto3 JSON mapping (as the HTTP adapters do, its cost check
  included).
Times are CPU seconds of this process (time.process_time: with 1 intra-op and 1 inter-op thread
ORT runs on the calling thread), the best of `repeats` timeit repeats of at least min_time each.

    python -m bench.run.inproc_child --models DIR --bodies DIR --model a,b --batch 1,32 --work json,protobuf
        prints {"timings": [{model, batch, work, us_per_run}, ...]}
    python -m bench.run.inproc_child --models DIR --bodies DIR --serve
        answers one JSON line {"us_per_run": …} per JSON line {model, batch, work, min_time} on stdin
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import timeit

WORKS = ("inference", "protobuf", "json")
REPEATS = 3


class Works:
    """The models, loaded once, and the callables that do each work."""

    def __init__(self, models_dir: str, bodies_dir: str):
        self.models_dir, self.bodies_dir = models_dir, bodies_dir
        self._predictors: dict = {}

    def _predictor(self, model: str):
        if model not in self._predictors:
            from bench.run import payloads
            from python_service.server.core.predictor import Predictor

            entry = payloads.load_models(self.models_dir, [model])[model]
            self._predictors[model] = (Predictor([entry]), entry)
        return self._predictors[model]

    def _body(self, model: str, batch: int, ext: str) -> bytes:
        with open(os.path.join(self.bodies_dir, f"{model}-batch{batch}.{ext}"), "rb") as fh:
            return fh.read()

    def call(self, model: str, batch: int, work: str):
        """A no-argument callable doing `work` once for this model and batch."""
        from python_service.server.core import codec

        predictor, entry = self._predictor(model)
        if work == "inference":
            import numpy as np
            import onnxruntime as ort

            from python_service.server.core.predictor import session_options

            options = session_options()  # the servers' (1 intra-op, 1 inter-op thread)
            session = ort.InferenceSession(entry.model_bytes, options, providers=["CPUExecutionProvider"])
            meta = entry.metadata
            # the bench's own rows, as the servers are sent them
            rows = [i["features"] for i in json.loads(self._body(model, batch, "json"))["instances"]]
            feed = {meta["input_name"]: np.ascontiguousarray(rows, dtype=np.float32)}
            fetch = [meta.get("probabilities_output") or meta["value_output"]]
            return lambda: session.run(fetch, feed)
        if work == "protobuf":
            body = self._body(model, batch, "pb")
            return lambda: codec.encode_answer_protobuf(predictor.infer(codec.decode_protobuf(body)))
        if work == "json":
            body, bound = self._body(model, batch, "json"), predictor.value_bound
            return lambda: codec.encode_answer_json(predictor.infer(codec.decode_json(body, bound)))
        raise ValueError(f"unknown work {work!r}; one of {', '.join(WORKS)}")

    def time(self, model: str, batch: int, work: str, min_time_s: float, repeats: int = REPEATS) -> float:
        """µs of CPU per call: the best of `repeats` timeit repeats of at least min_time_s each."""
        timer = timeit.Timer(self.call(model, batch, work), timer=time.process_time)
        number, elapsed = timer.autorange()
        number = max(1, int(number * min_time_s / max(elapsed, 1e-9)))
        return min(timer.repeat(repeat=repeats, number=number)) / number * 1e6


def serve(works: Works) -> int:
    """One timing per request line, until stdin ends."""
    for line in sys.stdin:
        if not line.strip():
            continue
        ask = json.loads(line)
        try:
            answer = {"us_per_run": works.time(ask["model"], int(ask["batch"]), ask["work"], float(ask["min_time"]))}
        except Exception as exc:  # the parent reports it as a problem of the run, and goes on
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run.inproc_child", description=__doc__.splitlines()[0])
    parser.add_argument("--models", required=True, help="model repository directory")
    parser.add_argument("--bodies", required=True, help="the run's request bodies (<model>-batch<n>.{pb,json})")
    parser.add_argument("--model", default="", help="comma-separated model names")
    parser.add_argument("--batch", default="1", help="comma-separated batch sizes")
    parser.add_argument("--work", default=",".join(WORKS), help="comma-separated: " + ", ".join(WORKS))
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per timeit repeat")
    parser.add_argument("--serve", action="store_true", help="answer timing requests from stdin, one per line")
    args = parser.parse_args(argv)
    works = Works(args.models, args.bodies)
    if args.serve:
        return serve(works)
    timings = [
        {"model": m, "batch": int(b), "work": w, "us_per_run": works.time(m, int(b), w, args.min_time)}
        for m in args.model.split(",")
        for b in args.batch.split(",")
        for w in args.work.split(",")
    ]
    json.dump({"timings": timings, "cpus": sorted(os.sched_getaffinity(0))}, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
