"""Synthetic results for the analysis and report tests: Run records with chosen figures."""

from bench.results import Latency, Run


def run(
    kind="serve",
    server="go",
    protocol="grpc",
    conc=10,
    repeat=1,
    model="iris-logreg",
    batch=1,
    mode=None,
    rps=100.0,
    cpu=50.0,
    util=0.5,
    bound=False,
    **fields,
) -> Run:
    tool = "hey" if protocol.startswith("http") else "ghz"
    values = dict(
        kind=kind,
        server=server,
        protocol=protocol,
        model=model,
        batch=batch,
        concurrency=conc,
        repeat=repeat,
        mode=mode,
        duration_s=2.0,
        tool=tool,
        requests=20,
        ok=20,
        errors=0,
        error_kinds={},
        elapsed_s=1.0,
        rps=rps,
        rows_per_s=None if rps is None else rps * (batch or 1),
        latency_ms=Latency(p50=1.0, p90=2.0, p99=3.0, p999=3.5, max=4.0, mean=1.5),
        server_cpu_s=cpu * 20 / 1e6,
        server_cpu_us_per_req=cpu,
        server_rss_mb=40.0,
        worker_cpu_s=None,
        background_cpu_s=0.0,
        client_cpu_s=util,
        client_wall_s=1.0,
        client_cpu_util=util,
        client_bound=bound,
        foreign_cpu_share=0.01,
        noisy=False,
        no_answers=False,
        raw=f"raw/{server}-{protocol}-{model}-{batch}-{conc}-{repeat}-{mode}.{'csv' if tool == 'hey' else 'json'}.gz",
        command=[tool],
    )
    values.update(fields)
    return Run(**values)
