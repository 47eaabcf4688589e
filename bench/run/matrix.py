"""The closed-loop stages: the scenario matrix and the variants side by side. Every cell is
measured `repeats` times with the running servers interleaved (A B A B …), each time a discarded
warm-up then a timed run (bench.run.measure), hey for HTTP and ghz for gRPC.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable

from bench.plan import Plan
from bench.results import Results, Run
from bench.run import loadgen, parity, servers, v2load
from bench.run.measure import measure_run
from bench.run.procs import Supervisor


def closed_loop(
    plan: Plan, protocol: str, address: str, conc: int, bodies: dict, model: str, batch: int
) -> tuple[str, int, Callable[[float], list[str]]]:
    """(tool, messages per tool request, duration → argv) for one endpoint and scenario."""
    if protocol in v2load.PROTOCOLS:
        return v2load.closed_loop(plan, protocol, address, conc, bodies, model, batch)
    s, tools, n_client = plan.settings, plan.tools, len(plan.client_cpus)
    if protocol.startswith("http"):
        protobuf = protocol == "http-protobuf"
        body = bodies[(model, batch, "protobuf" if protobuf else "json")]
        return (
            "hey",
            1,
            lambda d: loadgen.hey_argv(
                tools.hey,
                f"http://{address}/v1/predict",
                concurrency=conc,
                n_cpus=n_client,
                timeout_s=s.request_timeout_s,
                duration_s=d,
                body=body,
                protobuf=protobuf,
            ),
        )
    stream = s.stream_messages if protocol == "grpc-stream" else None
    connections = max(s.ghz_connections, len(plan.server_cpus))  # ≥ 1 per worker: SO_REUSEPORT spreads them
    return (
        "ghz",
        stream or 1,
        lambda d: loadgen.ghz_argv(
            tools,
            address,
            concurrency=conc,
            n_cpus=n_client,
            timeout_s=s.request_timeout_s,
            duration_s=d,
            body=bodies[(model, batch, "json")],
            connections=min(connections, conc),
            stream_messages=stream,
        ),
    )


def serve_matrix(
    sup: Supervisor,
    plan: Plan,
    running: dict[str, servers.Server],
    bodies: dict,
    ui,
    *,
    kind: str,
    models,
    batches,
    matrix,
) -> list[Run]:
    s, runs = plan.settings, []
    pairs = [(protocol, conc) for protocol, concurrencies in matrix.items() for conc in concurrencies]
    for model, batch, (protocol, conc) in itertools.product(models, batches, pairs):
        for repeat in range(1, s.repeats + 1):
            for name, server in running.items():  # implementations interleaved: A B A B …
                address = server.endpoints.get(servers.transport(protocol))
                if address is None or not server.serves(protocol):
                    continue
                tool, messages, argv = closed_loop(plan, protocol, address, conc, bodies, model, batch)
                labels = {
                    "kind": kind,
                    "server": name,
                    "protocol": protocol,
                    "model": model,
                    "batch": batch,
                    "concurrency": conc,
                    "repeat": repeat,
                    "mode": None,
                    "duration_s": s.duration_s,
                }
                raw = os.path.join(
                    plan.run_dir,
                    "raw",
                    f"{servers.file_name(name)}-{protocol}-{model}-b{batch}-c{conc}-"
                    f"r{repeat}." + ("csv" if tool == "hey" else "json"),
                )
                others = [o for o in running.values() if o is not server]
                warm = argv(s.warmup_s) if s.warmup_s > 0 else None
                record = measure_run(
                    sup,
                    server,
                    others,
                    tool,
                    warm,
                    argv(s.duration_s),
                    raw,
                    (plan.server_cpus, plan.client_cpus),
                    s,
                    labels,
                    messages,
                )
                runs.append(record)
                ui.advance(record)
    return runs


def run_variants(sup, plan: Plan, ui, models, bodies, results: Results) -> list[Run]:
    """The stacks side by side: every variant up at once, gated, then the small matrix interleaved."""
    v = plan.settings.variants
    running = servers.start_servers(sup, plan, ui, v.servers, v.matrix, v.protocols_of)
    try:
        gate = parity.gate(ui, running, {m: models[m] for m in v.models}, v.batch, plan.settings.parity)
        if not gate.passed:
            raise parity.GateFailed("variants: " + "; ".join(gate.failures[:5]))
        return serve_matrix(
            sup, plan, running, bodies, ui, kind="variant", models=v.models, batches=v.batch, matrix=v.matrix
        )
    finally:
        for server in running.values():
            server.stop(sup)
        results.servers.update({f"variant {n}": i for n, i in servers.describe(running, plan.run_dir).items()})
