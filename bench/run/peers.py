"""Peers: other servers of the Open Inference Protocol, measured over V2 beside servebench's own
(`make bench PROFILE=peers`). Each peer is installed, pinned, in a virtualenv of its own under
.tools/peers/ (`make peers`: bench/peers/requirements-*.txt) and started by the bench like its own
servers — on the plan's server CPUs, its whole process tree measured, in the capacity stage's
CPU-capped cgroup — on loopback ports picked for it (no peer logs a bound port 0).

- mlserver-onnx: MLServer with a custom runtime (bench/peers/mlserver_onnx.py): the same model.onnx
  through ONNX Runtime;
- mlserver-sklearn: MLServer's stock scikit-learn runtime (mlserver-sklearn) on the original
  estimator, retrained by the export's recipe (bench/peers/train_sklearn.py) and saved with joblib;
- kserve-onnx: KServe's Python ModelServer with a custom kserve.Model (bench/peers/kserve_onnx.py):
  the same model.onnx through ONNX Runtime.

Configured alike where they can be: one ONNX Runtime intra-op and one inter-op thread (as servebench's
servers are started), no per-request logging (MLServer `debug: false`; KServe
`--enable_latency_logging false --configure_logging false`), otherwise as shipped (MLServer's one
parallel inference worker, its metrics server; KServe one worker, four gRPC threads). What each
ran, with which versions and settings, is in results.json `peers` (describe()).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
from dataclasses import dataclass
from importlib import metadata as importlib_metadata

from bench.run.lifecycle import ServerError, ServerSpec
from bench.run.v2load import PROTOCOLS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNTIMES = os.path.join(REPO, "bench", "peers")  # the peers' own files (run in their venvs)
READY_PATH = "/v2/health/ready"


@dataclass(frozen=True)
class Peer:
    name: str  # the bench's name for it (settings' servers)
    server: str  # what it is
    venv: str  # its virtualenv under the peers' folder (make peers)
    packages: tuple[str, ...]  # whose versions the report gives
    runtime: str  # how it serves the model
    answers_from: str  # "onnx" (the same model.onnx) or "sklearn" (the original estimator)


PEERS = {
    p.name: p
    for p in (
        Peer(
            "mlserver-onnx",
            "MLServer",
            "mlserver",
            ("mlserver", "onnxruntime"),
            "custom runtime (bench/peers/mlserver_onnx.py): ONNX Runtime on the same model.onnx",
            "onnx",
        ),
        Peer(
            "mlserver-sklearn",
            "MLServer",
            "mlserver",
            ("mlserver", "mlserver-sklearn", "scikit-learn"),
            "stock scikit-learn runtime (mlserver_sklearn.SKLearnModel) on the original estimator, retrained by the "
            "export's recipe and saved with joblib",
            "sklearn",
        ),
        Peer(
            "kserve-onnx",
            "KServe Python model server",
            "kserve",
            ("kserve", "onnxruntime"),
            "custom kserve.Model (bench/peers/kserve_onnx.py): ONNX Runtime on the same model.onnx",
            "onnx",
        ),
    )
}


def is_peer(name: str) -> bool:
    return name in PEERS


def speaks(name: str, protocol: str) -> bool:
    """Whether the bench drives `protocol` at server `name`: a peer speaks V2 only."""
    return protocol in PROTOCOLS if is_peer(name) else True


def python_of(peers_dir: str, name: str) -> str:
    return os.path.join(peers_dir, PEERS[name].venv, "bin", "python")


def installed(peers_dir: str, name: str) -> bool:
    return os.access(python_of(peers_dir, name), os.X_OK)


_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on `host` now, below the kernel's ephemeral range: the peer binds it seconds later
    (a Python server starting under the capacity cap), and in between the load generators' own
    connections take ephemeral ports by the thousand — one did, once, and MLServer hung on its failed
    bind. Never the same port twice in a run."""
    rng = random.Random()
    high = max(_ephemeral_low(), 12000)
    for _ in range(200):
        port = rng.randrange(10000, high)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise ServerError(f"no free port below {high} on {host}")


def _models(plan) -> list[str]:
    return sorted(set(plan.settings.models) | set(plan.settings.capacity.models))


def _root(plan, name: str) -> str:
    return os.path.join(plan.run_dir, "peers", name)


def prepare(plan, names: list[str]) -> None:
    """Before any peer starts: each one installed (else the run stops here, before measuring), and
    its folder under the run's peers/ laid out — the models it serves and its settings."""
    missing = [n for n in names if not installed(plan.peers_dir, n)]
    if missing:
        raise ServerError(f"peers {', '.join(missing)}: not installed under {plan.peers_dir} (run `make peers`)")
    for name in names:
        peer, root = PEERS[name], _root(plan, name)
        for model in _models(plan):
            _onnx_dir(plan, root, model)
        if peer.venv == "mlserver":
            _mlserver_repo(plan, python_of(plan.peers_dir, name), root, _models(plan), peer.answers_from == "sklearn")
            with open(os.path.join(root, "settings.json"), "w", encoding="utf-8") as fh:
                json.dump(_mlserver_settings(root), fh, indent=1)


def spec(plan, name: str) -> ServerSpec:
    """How to start peer `name` (its folder laid out by prepare()) on loopback ports of its own,
    serving every model of the plan."""
    peer, root = PEERS[name], _root(plan, name)
    http, grpc = free_port(), free_port()
    endpoints = {"http": f"127.0.0.1:{http}", "grpc": f"127.0.0.1:{grpc}"}
    python = python_of(plan.peers_dir, name)
    if peer.venv == "mlserver":  # the ports by environment: settings.json is written once, by prepare()
        argv = [os.path.join(os.path.dirname(python), "mlserver"), "start", root]
        env = {"PYTHONPATH": RUNTIMES, "MLSERVER_HTTP_PORT": str(http), "MLSERVER_GRPC_PORT": str(grpc)}
        env["MLSERVER_METRICS_PORT"] = str(free_port())
    else:
        dirs = [os.path.join(root, m) for m in _models(plan)]
        argv = [python, os.path.join(RUNTIMES, "kserve_onnx.py"), "--model_dirs", *dirs]
        argv += ["--http_port", str(http), "--grpc_port", str(grpc), "--workers", "1"]
        argv += ["--enable_latency_logging", "false", "--configure_logging", "false"]
        env = {}
    return ServerSpec(
        name,
        argv,
        ("http", "grpc"),
        env=env,
        ready_path=READY_PATH,
        grpc_health=False,
        endpoints=endpoints,
        serves=frozenset(PROTOCOLS),
    )


def _mlserver_settings(root: str) -> dict:
    return {
        "debug": False,  # True (its default) logs every request
        "host": "127.0.0.1",
        "metrics_dir": os.path.join(root, ".metrics"),
        "environments_dir": os.path.join(root, ".envs"),
    }


def _source(plan, model: str) -> str:
    """models/<model>/<version>/ of the model's served version (the servers' own reader)."""
    from bench.run import payloads

    entry = payloads.load_models(plan.models_dir, [model])[model]
    return os.path.join(plan.models_dir, model, entry.version)


def _onnx_dir(plan, root: str, model: str) -> str:
    """A folder named after the model holding its model.onnx and metadata.json (copies)."""
    out = os.path.join(root, model)
    if not os.path.isdir(out):
        src = _source(plan, model)
        os.makedirs(out)
        for f in ("model.onnx", "metadata.json"):
            shutil.copy(os.path.join(src, f), os.path.join(out, f))
    return out


def _mlserver_repo(plan, python: str, root: str, models: list[str], sklearn: bool) -> None:
    """MLServer's model repository: one folder per model with its model-settings.json."""
    for model in models:
        out = _onnx_dir(plan, root, model)
        with open(os.path.join(out, "metadata.json"), encoding="utf-8") as fh:
            meta = json.load(fh)
        settings_path = os.path.join(out, "model-settings.json")
        if os.path.exists(settings_path):
            continue
        if sklearn:
            trained = _train(python, model, out)
            with open(os.path.join(out, "estimator.json"), "w", encoding="utf-8") as fh:
                json.dump(trained, fh)
        with open(settings_path, "w", encoding="utf-8") as fh:
            json.dump(model_settings(meta, sklearn), fh, indent=1)


def model_settings(meta: dict, sklearn: bool) -> dict:
    """MLServer's model-settings.json of a model: its runtime, its file, and its input and outputs
    (what GET /v2/models/{m} answers, and so what the bench asks for)."""
    inputs = [{"name": meta["input_name"], "datatype": "FP32", "shape": [-1, meta["n_features"]]}]
    classifier, n = meta["task"] == "classification", len(meta.get("class_labels") or [])
    if sklearn:
        outputs = [{"name": "predict", "datatype": "INT64" if classifier else "FP64", "shape": [-1, 1]}]
        outputs += [{"name": "predict_proba", "datatype": "FP64", "shape": [-1, n]}] if classifier else []
        implementation, uri = "mlserver_sklearn.SKLearnModel", "./model.joblib"
    else:
        outputs = (
            [
                {"name": "label", "datatype": "BYTES", "shape": [-1]},
                {"name": "class_index", "datatype": "INT32", "shape": [-1]},
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, n]},
            ]
            if classifier
            else [{"name": "value", "datatype": "FP32", "shape": [-1]}]
        )
        implementation, uri = "mlserver_onnx.OnnxModel", "./model.onnx"
    return {
        "name": meta["name"],
        "implementation": implementation,
        "parameters": {"uri": uri, "version": meta["version"]},
        "inputs": inputs,
        "outputs": outputs,
    }


def _train(python: str, model: str, out: str) -> dict:
    """The original estimator of a default model, trained in the peer's venv (its scikit-learn)."""
    argv = [python, os.path.join(RUNTIMES, "train_sklearn.py"), model, out]
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": REPO}, check=False)
    if done.returncode != 0:
        raise ServerError(f"peer mlserver-sklearn: cannot train {model}'s estimator: {done.stderr.strip()[-400:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def versions(peers_dir: str, name: str) -> dict[str, str]:
    """The versions of the peer's packages, read in its venv."""
    code = "import json, sys, importlib.metadata as m; print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))"
    done = subprocess.run(
        [python_of(peers_dir, name), "-c", code, *PEERS[name].packages], capture_output=True, text=True, check=False
    )
    return json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr.strip()[-200:]}


def describe(plan, names: list[str]) -> dict:
    """results.json `peers`: each peer's server, versions, runtime, configuration and command line;
    servebench's own servers' versions beside them."""
    out = {"servebench": {"version": importlib_metadata.version("servebench")}, "peers": {}}
    for name in names:
        peer = PEERS[name]
        item = {
            "server": peer.server,
            "installed": installed(plan.peers_dir, name),
            "runtime": peer.runtime,
            "answers_from": peer.answers_from,
            "venv": os.path.relpath(os.path.join(plan.peers_dir, peer.venv), plan.repo),
        }
        if item["installed"]:
            item["versions"] = versions(plan.peers_dir, name)
            item["config"] = config_of(plan, name)
        out["peers"][name] = item
    return out


def config_of(plan, name: str) -> dict:
    """How the peer was configured, read back from what the bench wrote for it."""
    root = _root(plan, name)
    if PEERS[name].venv == "kserve":
        return {
            "flags": "--workers 1 --enable_latency_logging false --configure_logging false",
            "defaults": "max_threads 4 (gRPC), event loop auto, binds 0.0.0.0 (no host flag)",
            "onnxruntime": "intra-op 1, inter-op 1",
        }
    settings = {}
    if os.path.exists(os.path.join(root, "settings.json")):
        with open(os.path.join(root, "settings.json"), encoding="utf-8") as fh:
            settings = {k: v for k, v in json.load(fh).items() if not k.endswith(("_port", "_dir"))}
    out = {"settings.json": settings, "defaults": "parallel_workers 1 (one inference worker process), metrics on"}
    if PEERS[name].answers_from == "sklearn":
        estimators = {}
        for model in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            path = os.path.join(root, model, "estimator.json")
            if os.path.exists(path):
                with open(path, encoding="utf-8") as fh:
                    estimators[model] = json.load(fh)
        out["estimators"] = estimators
    else:
        out["onnxruntime"] = "intra-op 1, inter-op 1"
    return out
