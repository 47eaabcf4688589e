"""PNG plots (matplotlib, Agg): throughput, latency and CPU per request vs concurrency.

One panel per model × batch, one line per server × protocol (median over repeats; throughput with
min–max error bars). Client-bound points are circled in red in every plot (legend: "CB").
"""

from __future__ import annotations

import os

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D

from bench.analysis import breakdown as analysis_breakdown
from bench.analysis import goals
from bench.report import network_plots
from bench.results import Results, Scenario

# color per server and protocol, marker per protocol
_COLORS = {
    "python": ("tab:blue", "tab:cyan", "tab:purple", "tab:pink"),
    "go": ("tab:green", "tab:olive", "tab:brown", "tab:orange"),
}
_PROTOCOLS = ("http-json", "grpc", "http-protobuf", "grpc-stream")
_MARKERS = ("o", "s", "^", "D")
STYLE = {
    (server, protocol): (_COLORS[server][i], _MARKERS[i]) for server in _COLORS for i, protocol in enumerate(_PROTOCOLS)
}


def _panels(rows: list[Scenario]):
    serve = [r for r in rows if r.kind == "serve"]
    keys = list(dict.fromkeys((r.model, r.batch) for r in serve))  # the scenario file's order
    series = list(dict.fromkeys((r.server, r.protocol) for r in serve))
    return serve, keys, series, {r.concurrency for r in serve}


def _save(fig, path: str) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _figure(n: int):
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 4.2 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def _line(
    ax,
    points: list[Scenario],
    server: str,
    protocol: str,
    metric: str,
    *,
    errorbars=False,
    dashed=False,
    label_suffix="",
):
    points = sorted((p for p in points if getattr(p, metric).median is not None), key=lambda r: r.concurrency)
    if not points:
        return
    xs = [p.concurrency for p in points]
    ys = [getattr(p, metric).median for p in points]
    color, marker = STYLE.get((server, protocol), ("tab:gray", "x"))
    label = f"{server} {protocol}{label_suffix}"
    if errorbars:
        lo = [max(0.0, y - (getattr(p, metric).min or 0)) for p, y in zip(points, ys)]
        hi = [max(0.0, (getattr(p, metric).max or 0) - y) for p, y in zip(points, ys)]
        ax.errorbar(xs, ys, yerr=[lo, hi], color=color, marker=marker, capsize=3, label=label)
    else:
        ax.plot(xs, ys, color=color, marker=marker, linestyle="--" if dashed else "-", label=label)
    bound = [(x, y) for x, y, p in zip(xs, ys, points) if p.client_bound]
    if bound:
        ax.scatter(*zip(*bound), s=160, facecolors="none", edgecolors="red", linewidths=1.5, zorder=5)


def _finish(fig, axes, keys, ylabel: str, title: str, path: str, log_y=False, xs=()):
    for ax, (model, batch) in zip(axes, keys):
        ax.set_title(f"{model}, batch {batch}")
        ax.set_xlabel("concurrency")
        ax.set_ylabel(ylabel)
        ax.set_xscale("log")
        ax.set_xticks(sorted(xs), [str(x) for x in sorted(xs)])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        if log_y and any(y > 0 for line in ax.get_lines() for y in line.get_ydata()):
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        handles.append(
            Line2D([], [], marker="o", markersize=11, markerfacecolor="none", markeredgecolor="red", linestyle="none")
        )
        labels.append("CB: client-bound")
        ax.legend(handles, labels, fontsize=7)
    fig.suptitle(title)
    _save(fig, path)


def _series_points(serve: list[dict], key: tuple, series: list[tuple]):
    """(server, protocol, rows) of one panel (model, batch), for each series that has rows there."""
    for server, protocol in series:
        pts = [r for r in serve if (r.model, r.batch, r.server, r.protocol) == (*key, server, protocol)]
        if pts:
            yield server, protocol, pts


def throughput(rows: list[Scenario], path: str) -> None:
    serve, keys, series, xs = _panels(rows)
    fig, axes = _figure(len(keys))
    for ax, key in zip(axes, keys):
        for server, protocol, pts in _series_points(serve, key, series):
            _line(ax, pts, server, protocol, "rps", errorbars=True)
    _finish(fig, axes, keys, "req/s (median, min–max)", "Throughput vs concurrency", path, xs=xs)


def latency(rows: list[Scenario], path: str) -> None:
    serve, keys, series, xs = _panels(rows)
    fig, axes = _figure(len(keys))
    for ax, key in zip(axes, keys):
        for server, protocol, pts in _series_points(serve, key, series):
            _line(ax, pts, server, protocol, "p50_ms", label_suffix=" p50")
            _line(ax, pts, server, protocol, "p99_ms", dashed=True, label_suffix=" p99")
    _finish(
        fig,
        axes,
        keys,
        "latency ms (median of repeats)",
        "Latency p50 (solid) and p99 (dashed) vs concurrency",
        path,
        log_y=True,
        xs=xs,
    )


def cpu_per_request(rows: list[Scenario], inproc, path: str) -> None:
    serve, keys, series, xs = _panels(rows)
    fig, axes = _figure(len(keys))
    for ax, key in zip(axes, keys):
        for server, protocol, pts in _series_points(serve, key, series):
            _line(ax, pts, server, protocol, "server_cpu_us_per_req")
        for impl, style in (("python", ":"), ("go", "-.")):
            floor = goals.inproc_us(inproc, impl, *key, "protobuf")
            if floor:
                ax.axhline(floor, color="gray", linestyle=style, linewidth=1, label=f"in-process {impl} (protobuf)")
    _finish(
        fig,
        axes,
        keys,
        "server CPU µs per request",
        "Server CPU per request vs concurrency (grey: in-process time of the work: decode, predict, encode)",
        path,
        log_y=True,
        xs=xs,
    )


def breakdown(results: Results, path: str) -> bool:
    """Stacked bars: each endpoint's phases and remainder per request (the breakdown table)."""
    rows = analysis_breakdown.phases(results.scenarios, results.inproc)
    if not rows:
        return False
    keys = list(dict.fromkeys((r["model"], r["batch"]) for r in rows))
    fig, axes = _figure(len(keys))
    parts = (*analysis_breakdown.PHASES, "remainder")
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:gray")
    for ax, (model, batch) in zip(axes, keys):
        panel = [r for r in rows if (r["model"], r["batch"]) == (model, batch)]
        labels = [f"{r['server']}\n{r['protocol']}" for r in panel]
        bottom = [0.0] * len(panel)
        for part, color in zip(parts, colors):
            heights = [max(0.0, r[part] or 0.0) for r in panel]
            ax.bar(labels, heights, bottom=bottom, color=color, label=part)
            bottom = [b + h for b, h in zip(bottom, heights)]
        ax.set_title(f"{model}, batch {batch} (concurrency {panel[0]['concurrency']})")
        ax.set_ylabel("µs per request")
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Where the server's time goes (phase metrics; remainder = server CPU per request − phases)")
    _save(fig, path)
    return True


def capacity_latency(results: Results, path: str) -> bool:
    """The hockey stick: p50 / p99 / p99.9 against achieved req/s per endpoint, the SLO line and
    the capacity marked."""
    items = [c for c in results.capacity if c.points]
    if not items:
        return False
    fig, axes = _figure(len(items))
    for ax, c in zip(axes, items):
        points = sorted(c.points, key=lambda p: p.offered_rps)
        xs = [p.achieved_rps or 0 for p in points]
        for key, style, label in (("p50", ":", "p50"), ("p99", "-", "p99"), ("p999", "--", "p99.9")):
            ax.plot(
                xs,
                [getattr(p.latency_ms, key) or float("nan") for p in points],
                style,
                marker="o",
                markersize=3,
                label=label,
            )
        ax.axhline(c.slo_p99_ms, color="red", linewidth=1, label=f"SLO {c.slo_p99_ms:g} ms")
        if c.capacity_rps:
            ax.axvline(
                c.capacity_rps,
                color="green",
                linewidth=1,
                linestyle="--",
                label=f"capacity {c.capacity_rps:,.0f} ({c.bound_by})",
            )
        if c.floor_p99_ms:
            ax.axhline(c.floor_p99_ms, color="gray", linewidth=1, linestyle=":", label="floor p99")
        ax.set_yscale("log")
        ax.set_xlabel("achieved req/s")
        ax.set_ylabel("latency ms (from due time)")
        ax.set_title(f"{c.server} {c.protocol}" + (f", {c.model} b{c.batch}" if c.model else ""))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Latency against throughput, open loop, server capped to {results.calibration.get('cpu_quota')} CPU")
    _save(fig, path)
    return True


def capacity_cpu(results: Results, path: str) -> bool:
    """Server (and generator) CPU utilisation against the offered rate, per endpoint."""
    items = [c for c in results.capacity if c.points]
    if not items:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for c in items:
        points = sorted(c.points, key=lambda p: p.offered_rps)
        xs = [p.offered_rps for p in points]
        line = ax.plot(
            xs,
            [100 * (p.server_cpu_util or 0) for p in points],
            marker="o",
            markersize=3,
            label=f"{c.server} {c.protocol}: server",
        )[0]
        ax.plot(
            xs,
            [100 * (p.client_cpu_util or 0) for p in points],
            linestyle=":",
            color=line.get_color(),
            label=f"{c.server} {c.protocol}: generator",
        )
    ax.axhline(80, color="gray", linewidth=1, linestyle="--")
    ax.set_xscale("log")
    ax.set_xlabel("offered req/s")
    ax.set_ylabel("% CPU (server: of its quota; generator: of its CPUs)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6)
    fig.suptitle("CPU utilisation against offered rate")
    _save(fig, path)
    return True


def write(run_dir: str, results: Results) -> list[str]:
    rows, paths = results.scenarios, []
    if any(r.kind == "serve" for r in rows):
        paths = [os.path.join(run_dir, n) for n in ("throughput.png", "latency.png", "cpu_per_request.png")]
        throughput(rows, paths[0])
        latency(rows, paths[1])
        cpu_per_request(rows, results.inproc, paths[2])
    for name, plot in (
        ("breakdown.png", breakdown),
        ("capacity_latency.png", capacity_latency),
        ("capacity_cpu.png", capacity_cpu),
    ):
        if plot(results, os.path.join(run_dir, name)):
            paths.append(os.path.join(run_dir, name))
    return paths + network_plots.write(run_dir, results)
