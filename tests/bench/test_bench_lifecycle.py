"""Process lifecycle: servers start pinned and ready, and nothing is left behind — on a normal stop, on
Ctrl-C in the middle of a run, and when the bench itself is killed with SIGKILL."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
import yaml

from bench.run import servers
from bench.run.procs import Supervisor, cpu_list

pytestmark = pytest.mark.process  # starts server processes

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CPU = [sorted(os.sched_getaffinity(0))[0]]


def gone(procs, timeout_s=10.0):
    """True once none of the (pid, create_time) pairs is alive."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = []
        for pid, created in procs:
            try:
                p = psutil.Process(pid)
                if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive:
            return True
        time.sleep(0.05)
    return False


def test_cpu_list():
    assert cpu_list("0") == [0] and cpu_list("0-2,5") == [0, 1, 2, 5] and cpu_list(" 3 , 1 ") == [1, 3]
    for bad in ("", "a", "1-b"):
        with pytest.raises(ValueError):
            cpu_list(bad)


def test_toy_server_starts_pinned_ready_and_stops(tmp_path):
    with Supervisor(stop_timeout_s=5) as sup:
        srv = servers.start(sup, servers.toy_spec("toy-flask", ""), CPU, str(tmp_path / "toy.log"), 30)
        proc = psutil.Process(srv.pid)
        assert proc.cpu_affinity() == CPU
        assert servers.http_ready(srv.endpoints["http"], "/predict")
        tracked = [(p.pid, p.create_time()) for p in [proc, *proc.children(recursive=True)]]
    assert gone(tracked)


def test_start_failure_reports_the_log_tail(tmp_path):
    spec = servers.ServerSpec("broken", [sys.executable, "-c", "import sys; sys.exit('boom: no models')"], ("http",))
    with Supervisor() as sup, pytest.raises(servers.ServerError, match="boom: no models"):
        servers.start(sup, spec, CPU, str(tmp_path / "broken.log"), 10)


@pytest.mark.skipif(not shutil.which("setpriv"), reason="setpriv (util-linux) not installed")
@pytest.mark.parametrize(
    "spec",
    ['servers.toy_spec("toy-flask", "")', 'servers.python_spec(("grpc", "http"), MODELS)'],
    ids=["toy-flask", "python-tree"],
)
def test_sigkill_of_the_bench_takes_its_servers_along(tmp_path, models_dir, spec):
    """The bench (or a test) killed with SIGKILL: its servers follow, the Python server's whole tree
    (supervisor, hosts, granian's worker) included."""
    script = textwrap.dedent(f"""
        import sys, time
        from bench.run import servers
        from bench.run.procs import Supervisor
        MODELS = {models_dir!r}
        sup = Supervisor()
        srv = servers.start(sup, {spec}, {CPU!r}, {str(tmp_path / "server.log")!r}, 60)
        print(srv.pid, flush=True)
        time.sleep(120)
    """)
    bench = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        pid = int(bench.stdout.readline())
        toy = psutil.Process(pid)
        tracked = [(p.pid, p.create_time()) for p in [toy, *toy.children(recursive=True)]]
        bench.kill()
        bench.wait()
        assert gone(tracked, timeout_s=15.0), "the server (or part of its tree) outlived the SIGKILLed bench"
    finally:
        bench.kill()


@pytest.fixture(scope="module")
def toy_go(tmp_path_factory):
    if not shutil.which("go"):
        pytest.skip("go not installed")
    out = tmp_path_factory.mktemp("toy") / "toy"
    subprocess.run(["go", "build", "-o", str(out), "."], cwd=os.path.join(REPO, "bench", "toy", "go"), check=True)
    return str(out)


@pytest.mark.skipif(not os.access(os.path.join(REPO, ".tools", "bin", "hey"), os.X_OK), reason="make tools first")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_mid_run_leaves_no_process_behind(tmp_path, toy_go, sig):
    cpus = sorted(os.sched_getaffinity(0))
    env = {**os.environ, "BENCH_SERVER_CPUS": str(cpus[0]), "BENCH_CLIENT_CPUS": str(cpus[-1])}
    # Long timed seed runs, so that the bench is surely mid-run (not writing its report, nor
    # done) when the signal lands, however slow this machine is today.
    with open(os.path.join(REPO, "bench", "scenarios.yaml")) as fh:
        scenarios = yaml.safe_load(fh)
    scenarios["defaults"]["seed"]["duration_s"] = 60.0
    scenario_file = tmp_path / "scenarios.yaml"
    scenario_file.write_text(yaml.safe_dump(scenarios))
    bench = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench",
            "--profile",
            "full",
            "--only",
            "seed",
            "--scenarios",
            str(scenario_file),
            "--out",
            str(tmp_path / "results"),
            "--toy-go-bin",
            toy_go,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tracked, names = set(), set()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not {"hey", "toy"} <= names:
            for p in psutil.Process(bench.pid).children(recursive=True):
                try:
                    tracked.add((p.pid, p.create_time()))
                    names.add(p.name())
                except psutil.NoSuchProcess:
                    pass
            time.sleep(0.02)
        assert {"hey", "toy"} <= names, f"bench never ran hey against both toys: {names}"
        assert bench.poll() is None, "the bench ended before it could be interrupted"
        bench.send_signal(sig)  # SIGINT is what Ctrl-C delivers to the foreground process
        output, _ = bench.communicate(timeout=60)
    finally:
        bench.kill()
    assert bench.returncode == 130, output
    assert "interrupted" in output
    assert gone(tracked), "a server or load generator outlived the interrupted bench"
