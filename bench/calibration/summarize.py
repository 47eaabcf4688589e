#!/usr/bin/env python3
"""Median (and min-max) per configuration over clean runs in results.jsonl.
usage: summarize.py [TAG] [--all]   (--all: include contaminated runs)"""
import gzip, json, os, sys, statistics as st
from collections import defaultdict
tag = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else None
allruns = "--all" in sys.argv
groups = defaultdict(list)
for line in gzip.open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.jsonl.gz"), "rt"):
    d = json.loads(line)
    if tag and d.get("tag") != tag: continue
    if "n" not in d: continue
    if not allruns and not d.get("clean"): continue
    k = (d["tool"], d["target"], d.get("extra", ""), d.get("cg_period", "-"), d.get("cg_quota", "-"), d["rate"])
    groups[k].append(d)
cols = ["n_runs", "rate_ratio", "p50", "p99", "p999", "cp99", "lag_p99", "lag_max", "cli_util", "cli_us_per_req", "srv_us_per_req", "nr_throttled", "throttled_ms", "thr_frac"]
print("tool target extra period quota rate | " + " ".join(cols))
for k in sorted(groups, key=lambda k: (k[0], k[1], k[2], str(k[3]), str(k[4]), k[5])):
    rs = groups[k]
    for r in rs:
        if "nr_periods" in r and r["nr_periods"]:
            r["thr_frac"] = r["nr_throttled"] / r["nr_periods"]
    out = [str(len(rs))]
    for c in cols[1:]:
        v = [r[c] for r in rs if c in r and r[c] is not None]
        if not v: out.append("-"); continue
        m = st.median(v)
        if c in ("p50", "p99", "p999", "cp99") and len(v) > 1:
            out.append(f"{m:.3g}[{min(v):.3g}-{max(v):.3g}]")
        else:
            out.append(f"{m:.3g}")
    print(" ".join(map(str, k)) + " | " + " ".join(out))
