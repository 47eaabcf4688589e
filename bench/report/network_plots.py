"""The network stage's plots: latency against the round trip, one line per way (per server and
case), and bytes per request per way (the TCP stream beside the encoded payload)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.analysis import network as analysis
from bench.results import Results

_STYLE = {  # way → (color, marker, line style): plaintext solid, TLS dashed
    "h1-json": ("tab:blue", "o", "-"),
    "h1-json-tls": ("tab:blue", "o", "--"),
    "h2-json-tls": ("tab:cyan", "v", "--"),
    "h1-protobuf": ("tab:purple", "^", "-"),
    "h1-protobuf-tls": ("tab:purple", "^", "--"),
    "h2-protobuf-tls": ("tab:pink", "<", "--"),
    "grpc": ("tab:green", "s", "-"),
    "grpc-tls": ("tab:green", "s", "--"),
    "grpc-stream": ("tab:olive", "D", "-"),
    "grpc-stream-tls": ("tab:olive", "D", "--"),
}


def write(run_dir: str, results: Results) -> list[str]:
    net = results.network
    if net is None or net.skipped or not net.runs:
        return []
    return [p for p in (_latency(net, run_dir), _bytes(net, run_dir)) if p]


def _latency(net, run_dir: str) -> str | None:
    rtt = {p.name: p.measured_added_rtt_ms for p in net.profiles}
    panels = [(s, m, b) for m, b in analysis.cases(net) for s in analysis.order(net, "server")]
    if len({v for v in rtt.values() if v is not None}) < 2:
        return None
    cols = min(2, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 4.4 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (server, model, batch) in zip(axes.flat, panels, strict=False):
        for way in analysis.order(net, "way"):
            points = []
            for profile in analysis.order(net, "profile"):
                run = analysis.cell(net, profile, server, way, model, batch)["closed"].get(1)
                if run and run.latency_ms.p50 is not None and rtt.get(profile) is not None:
                    points.append((max(rtt[profile], 0.01), run.latency_ms.p50))
            if points:
                color, marker, line = _STYLE.get(way, ("black", "x", "-"))
                ax.plot(*zip(*points, strict=True), marker=marker, linestyle=line, color=color, label=way)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("measured added round trip (ms; loopback drawn at 0.01)")
        ax.set_ylabel("p50 at concurrency 1 (ms)")
        ax.set_title(f"{server}: {model}, batch {batch}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Latency against round trip, per way (dashed: TLS)")
    return _save(fig, os.path.join(run_dir, "network_latency.png"))


def _bytes(net, run_dir: str) -> str | None:
    data = analysis.bytes_check(net)
    if not data:
        return None
    labels = [f"{d['server']} {d['way']}\n{d['model']} b{d['batch']}" for d in data]
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 0.55 * len(data) * 2), 4.6), squeeze=False)
    for ax, side in zip(axes.flat, ("up", "down"), strict=True):
        xs = range(len(data))
        ax.bar([x - 0.2 for x in xs], [d[f"{side}_payload"] or 0 for d in data], 0.4, label="payload", color="tab:gray")
        ax.bar(
            [x + 0.2 for x in xs], [d[f"{side}_stream"] or 0 for d in data], 0.4, label="TCP stream", color="tab:blue"
        )
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=6)
        ax.set_yscale("log")
        ax.set_ylabel("bytes per request")
        ax.set_title("request (up)" if side == "up" else "answer (down)", fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle("Bytes per request: encoded payload and what the TCP stream carried")
    return _save(fig, os.path.join(run_dir, "network_bytes.png"))


def _save(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
