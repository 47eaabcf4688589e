"""The report's opening: the run, the machine and how each figure was taken, a warning when some
runs were disturbed, and which figure to read first."""

from __future__ import annotations

from bench.results import Results


def render(results: Results, conc: int | None) -> list[str]:
    env, settings = results.environment, results.settings
    pin, v = env["pinning"], env["versions"]
    return [
        f"# servebench report — {results.run_id} (profile {results.profile})",
        "",
        f"Machine: {env['cpu_model']}, {env['cpu_count']} CPUs, {env['os']}. Server pinned to CPUs "
        f"{pin['server_cpus']}, load generator to CPUs {pin['client_cpus']} (taskset). Commit "
        f"{(env['git']['commit'] or 'unknown')[:12]}{' (dirty tree)' if env['git']['dirty'] else ''}. "
        f"hey {v.get('hey')}, ghz {v.get('ghz')}, Python {v['python']}, {v.get('go')}, onnxruntime "
        f"{v.get('onnxruntime')}, grpcio {v.get('grpcio')}, grpc-go {v.get('grpc-go')}. "
        f"Each figure: median of {settings['repeats']} timed runs of {settings['duration_s']:g}s (its 95% "
        f"interval in brackets: bootstrap over the repeats), each after a discarded {settings['warmup_s']:g}s "
        "warm-up; everything compared is measured in one window, interleaved (see Method notes).",
        "",
        *_quality_warning(results.runs),
        f"**Read CPU per request first.** On a {env['cpu_count']}-core machine the server gets "
        f"{len(pin['server_cpus'])} CPU and the load generator {len(pin['client_cpus'])}; when the load "
        "generator saturates its CPU (marked CB: client CPU ≥ "
        f"{settings['client_bound_threshold']:.0%}), req/s measures the load generator, not the server. "
        "Server CPU time per request is the figure that compares the servers fairly here.",
        "",
    ]


def quality(runs) -> str | None:
    """A warning when some timed runs were disturbed by other processes or got no answer at all."""
    noisy = sum(1 for r in runs if r.noisy)
    failed = sum(1 for r in runs if r.no_answers)
    if not noisy and not failed:
        return None
    parts = [f"{noisy} of {len(runs)} timed runs were noisy (other processes used the server CPUs)"] if noisy else []
    parts += [f"{failed} got no answer at all"] if failed else []
    return "; ".join(parts) + ". Figures from those runs are marked; rerun on a quiet machine to compare."


def _quality_warning(runs) -> list[str]:
    text = quality(runs)
    return [f"**Warning:** {text}", ""] if text else []
