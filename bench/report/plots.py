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

from bench.analysis import goals
from bench.results import Results, Scenario

STYLE = {
    ("python", "http"): ("tab:blue", "o"),
    ("python", "grpc"): ("tab:cyan", "s"),
    ("go", "http"): ("tab:green", "^"),
    ("go", "grpc"): ("tab:olive", "D"),
}


def _panels(rows: list[Scenario]):
    serve = [r for r in rows if r.kind == "serve"]
    keys = list(dict.fromkeys((r.model, r.batch) for r in serve))  # the scenario file's order
    series = list(dict.fromkeys((r.server, r.protocol) for r in serve))
    return serve, keys, series, {r.concurrency for r in serve}


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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
            floor = goals.inproc_us(inproc, impl, *key)
            if floor:
                ax.axhline(floor, color="gray", linestyle=style, linewidth=1, label=f"in-process {impl}")
    _finish(
        fig,
        axes,
        keys,
        "server CPU µs per request",
        "Server CPU per request vs concurrency (grey: in-process inference time)",
        path,
        log_y=True,
        xs=xs,
    )


def write(run_dir: str, results: Results) -> list[str]:
    rows = results.scenarios
    if not any(r.kind == "serve" for r in rows):
        return []
    paths = [os.path.join(run_dir, n) for n in ("throughput.png", "latency.png", "cpu_per_request.png")]
    throughput(rows, paths[0])
    latency(rows, paths[1])
    cpu_per_request(rows, results.inproc, paths[2])
    return paths
