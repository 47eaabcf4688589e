"""The table behind bench/README.md "Capacity" (the CFS burst): results.jsonl, one row per point.

    python3 bench/calibration/cfs_burst/summarize.py
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
print("| endpoint | period:burst µs | offered req/s | p99 ms | server CPU (of quota) | periods throttled | others' CPU |")
print("|---|---|---|---|---|---|---|")
with open(os.path.join(HERE, "results.jsonl"), encoding="utf-8") as fh:
    for line in fh:
        d = json.loads(line)
        throttled = "n/a" if d["throttled_share"] is None else f"{100 * d['throttled_share']:.1f}%"
        print(
            f"| {d['endpoint']} | {d['config']} | {d['rate']:,.0f} | {d['p99_ms']:.1f} | {100 * d['server_util']:.0f}% "
            f"| {throttled} | {100 * d['foreign_share']:.0f}% |"
        )
