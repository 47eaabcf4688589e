#!/usr/bin/env python3
"""One open-loop measurement, taken under /tmp/servebench-measure.lock.

usage: olrun.py TOOL TARGET RATE [--dur 10] [--warm 1] [--tag X] [--extra "..."]
  TOOL   vegeta | ghz | oha | olgen (olgen: the first version of the open-loop generator, superseded by
         go_service/cmd/openloop and removed from the repo; git history has its source:
         git log --diff-filter=D -- bench/calibration/olgen)
  TARGET go | null  (server started by startsrv.sh; pid/ports in run/)
Generator pinned to CPU 1; server (already) pinned to CPU 0.
Appends one JSON line to results.jsonl and prints a summary.

Schedule analysis: both vegeta and ghz use the same constant pacer: the k-th request
(0-based) is due at began + (k+1)*interval, interval = 1e9/rate ns (integer).
t0 (began) is not recorded, so it is estimated as min_k(send_k - (k+1)*interval), i.e. the
least-late request is assumed to be on time. lag_k = send_k - due_k, and
"corrected" latency = end_k - due_k (latency from when the request was due).
"""
import argparse, json, os, subprocess, sys, time, csv, io, datetime, statistics, tempfile

LAB = "/tmp/openloop-lab"
LOCK = "/tmp/servebench-measure.lock"
PROTO = "/work/main/proto/predict/v1/predict.proto"
CG = "/sys/fs/cgroup/cpu/servebench-lab"
BODY = LAB + "/body.json"
CLEAN = float(os.environ.get("OL_CLEAN", "0.15"))  # max foreign (user+sys) CPU share on either CPU
NICE = os.environ.get("OL_NICE", "-10")  # generator niceness (server started with the same by startsrv.sh)


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    i = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[i]


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def cg_stat():
    try:
        d = {}
        for line in open(CG + "/cpu.stat"):
            k, v = line.split()
            d[k] = int(v)
        d["period_us"] = int(open(CG + "/cpu.cfs_period_us").read())
        d["quota_us"] = int(open(CG + "/cpu.cfs_quota_us").read())
        return d
    except FileNotFoundError:
        return None


def build_cmd(a, rate, dur, out):
    grpc = a.tool == "ghz" or (a.tool == "olgen" and "-mode grpc" in a.extra)
    srv = open(f"{LAB}/run/{a.target}.{'grpc' if grpc else 'http'}").read().strip()
    extra = a.extra.split() if a.extra else []
    if a.tool == "vegeta":
        tf = f"{LAB}/run/targets_{a.target}.txt"
        with open(tf, "w") as f:
            f.write(f"POST http://{srv}/v1/predict\nContent-Type: application/json\n@{BODY}\n")
        return [f"{LAB}/bin/vegeta", "attack", f"-targets={tf}", f"-rate={rate}/1s", f"-duration={dur}s",
                f"-output={out}"] + extra
    if a.tool == "ghz":
        return ["/work/main/.tools/bin/ghz", "--insecure", "--proto", PROTO,
                "--call", "predict.v1.PredictionService.Predict", "-D", BODY, "--rps", str(rate),
                "-z", f"{dur}s", "--cpus", "1", "-O", "json", "-o", out] + extra + [srv]
    if a.tool == "olgen":
        return [f"{LAB}/bin/olgen", "-addr", srv, "-rate", str(rate), "-dur", f"{dur}s", "-out", out] + extra
    if a.tool == "oha":
        return [f"{LAB}/bin/oha", "--no-tui", "-q", str(rate), "-z", f"{dur}s", "-m", "POST",
                "-T", "application/json", "-D", BODY, "--output-format", "json", "-o", out + ".summary",
                "--db-url", out, f"http://{srv}/v1/predict"] + extra
    raise SystemExit("bad tool")


def cpu_busy(fields=(0, 1, 2)):
    """per-CPU jiffies (cpu0, cpu1) from /proc/stat: user+nice+system by default
    (softirq=6 and steal=7 excluded: loopback softirq is our own traffic, steal is the hypervisor)"""
    out = []
    for line in open("/proc/stat"):
        if line.startswith("cpu0 ") or line.startswith("cpu1 "):
            v = [int(x) for x in line.split()[1:]]
            out.append(sum(v[i] for i in fields))
    return out


def nstat():
    d = {}
    lines = open("/proc/net/netstat").read().splitlines() + open("/proc/net/snmp").read().splitlines()
    for h, v in zip(lines[0::2], lines[1::2]):
        for k, x in zip(h.split()[1:], v.split()[1:]):
            d[k] = int(x)
    return {k: d.get(k, 0) for k in ("ListenOverflows", "TCPSynRetrans", "TCPTimeouts", "RetransSegs")}


def run_gen(cmd, dur):
    """Run the generator pinned to CPU 1; sample its CPU over the steady window [1s, dur-0.5s]."""
    p = subprocess.Popen(["nice", "-n", NICE, "taskset", "-c", "1"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t_start = time.monotonic()
    c1 = c2 = None
    t1 = t2 = None
    time.sleep(1.0)
    try:
        c1, t1 = proc_cpu(p.pid), time.monotonic()
        time.sleep(max(0.5, dur - 1.5))
        c2, t2 = proc_cpu(p.pid), time.monotonic()
    except Exception:
        pass
    try:
        _, err = p.communicate(timeout=dur + 60)
    except subprocess.TimeoutExpired:
        p.kill(); _, err = p.communicate()
    util = (c2 - c1) / (t2 - t1) if c2 is not None else float("nan")
    return p.returncode, util, err.decode(errors="replace")[-2000:], time.monotonic() - t_start


def parse_vegeta(out):
    r = subprocess.run([f"{LAB}/bin/vegeta", "encode", "--to", "csv", out], capture_output=True, check=True)
    rows = []
    for rec in csv.reader(io.StringIO(r.stdout.decode())):
        # timestamp_ns, code, latency_ns, bytes_out, bytes_in, error, body, attack, seq, ...
        rows.append((int(rec[8]), int(rec[0]), int(rec[2]), int(rec[1]), rec[5]))
    rows.sort()
    return [(seq, ts, ts + lat, code == 200 and not err) for seq, ts, lat, code, err in rows]


def parse_ghz(out):
    d = json.load(open(out))
    rows = []
    for det in d.get("details") or []:
        ts = det["timestamp"]  # end of the call (grpc stats.End.EndTime)
        # RFC3339 with ns: parse manually
        base, frac = ts[:19], ts[19:]
        tz = "Z"
        if frac.endswith("Z"):
            frac = frac[:-1]
        else:
            frac, tz = frac[:-6], frac[-6:]
        ns = int((frac[1:] if frac.startswith(".") else "0").ljust(9, "0")[:9])
        dt = datetime.datetime.fromisoformat(base + ("+00:00" if tz == "Z" else tz))
        end = int(dt.timestamp()) * 1_000_000_000 + ns
        lat = int(det["latency"])
        rows.append((end - lat, end, det.get("status") == "OK" or det.get("error", "") == ""))
    rows.sort()
    return [(k, s, e, ok) for k, (s, e, ok) in enumerate(rows)], {k: d.get(k) for k in ("count", "rps", "total")}


def parse_oha(out):
    import sqlite3
    con = sqlite3.connect(out)
    cols = [r[1] for r in con.execute("pragma table_info(oha)")]
    q = con.execute("select * from oha").fetchall()
    rows = []
    for r in q:
        m = dict(zip(cols, r))
        s = float(m["start"]); e = float(m["end"])
        rows.append((s, e, m.get("status") == 200))
    rows.sort()
    # oha stores seconds relative to start (floats)
    return [(k, int(s * 1e9), int(e * 1e9), ok) for k, (s, e, ok) in enumerate(rows)], cols


def analyse(rows, rate, dur):
    interval = int(1e9 // rate)
    n = len(rows)
    ok = sum(1 for r in rows if r[3])
    lat = [(e - s) / 1e6 for _, s, e, _ in rows]
    t0 = min(s - (k + 1) * interval for k, s, _, _ in rows)
    lag = [(s - t0 - (k + 1) * interval) / 1e6 for k, s, _, _ in rows]
    corr = [(e - t0 - (k + 1) * interval) / 1e6 for k, s, e, _ in rows]
    span = (rows[-1][1] - rows[0][1]) / 1e9 if n > 1 else float("nan")
    return dict(n=n, ok=ok, send_rate=(n - 1) / span if n > 1 else 0, rate_ratio=n / (rate * dur),
                p50=pct(lat, 50), p90=pct(lat, 90), p99=pct(lat, 99), p999=pct(lat, 99.9), max=max(lat),
                lag_p50=pct(lag, 50), lag_p99=pct(lag, 99), lag_max=max(lag),
                cp50=pct(corr, 50), cp99=pct(corr, 99), cp999=pct(corr, 99.9))


def wait_quiet(limit=0.15, max_wait=120):
    """Wait (max max_wait s) until both CPUs are < limit busy over 0.5 s (nothing of ours is running)."""
    t = time.monotonic()
    while True:
        b0 = cpu_busy(); time.sleep(0.5); b1 = cpu_busy()
        busy = [(y - x) / os.sysconf("SC_CLK_TCK") / 0.5 for x, y in zip(b0, b1)]
        if max(busy) < limit or time.monotonic() - t > max_wait:
            return busy, time.monotonic() - t


def inner(a):
    spid = int(open(f"{LAB}/run/{a.target}.pid").read())
    pre_busy, waited = wait_quiet()
    with tempfile.TemporaryDirectory(dir="/tmp/openloop-lab/tmp") as td:
        if a.warm > 0:
            run_gen(build_cmd(a, a.rate, a.warm, td + "/warm.out"), a.warm)
        out = td + "/res.out"
        cmd = build_cmd(a, a.rate, a.dur, out)
        import resource
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        n0, st0 = nstat(), cpu_busy((7,))
        s0, g0, w0, b0 = proc_cpu(spid), cg_stat(), time.monotonic(), cpu_busy()
        rc, util, err, wall = run_gen(cmd, a.dur)
        s1, g1, w1, b1 = proc_cpu(spid), cg_stat(), time.monotonic(), cpu_busy()
        n1, st1 = nstat(), cpu_busy((7,))
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cli_total = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        hz = os.sysconf("SC_CLK_TCK")
        el = w1 - w0
        res = dict(tool=a.tool, target=a.target, rate=a.rate, dur=a.dur, extra=a.extra, tag=a.tag, rc=rc,
                   cli_util=util, srv_cpu_s=s1 - s0, when=time.strftime("%H:%M:%S"),
                   cpu0_busy=(b1[0] - b0[0]) / hz / el, cpu1_busy=(b1[1] - b0[1]) / hz / el,
                   cpu0_foreign=(b1[0] - b0[0]) / hz / el - (s1 - s0) / el,
                   cpu1_foreign=(b1[1] - b0[1]) / hz / el - cli_total / el, cli_total_s=cli_total,
                   steal=max((y - x) / hz / el for x, y in zip(st0, st1)), **{k: n1[k] - n0[k] for k in n0}, pre_busy=max(pre_busy), waited=waited)
        if g0 is not None:
            res.update(cg_period=g1["period_us"], cg_quota=g1["quota_us"],
                       nr_periods=g1["nr_periods"] - g0["nr_periods"],
                       nr_throttled=g1["nr_throttled"] - g0["nr_throttled"],
                       throttled_ms=(g1["throttled_time"] - g0["throttled_time"]) / 1e6)
        try:
            if a.tool == "vegeta":
                rows = parse_vegeta(out)
            elif a.tool == "olgen":
                rows = []
                for k, line in enumerate(open(out)):
                    due, snd, end, ok = map(int, line.split(","))
                    if snd >= 0:
                        rows.append((k, snd, end, ok == 1))
            elif a.tool == "ghz":
                rows, summ = parse_ghz(out)
            else:
                rows, _ = parse_oha(out)
            res.update(analyse(rows, a.rate, a.dur))
            res["srv_us_per_req"] = res["srv_cpu_s"] / res["n"] * 1e6
            res["cli_us_per_req"] = util * 1e6 / a.rate
        except Exception as e:
            res["parse_error"] = repr(e)[:300]
            res["stderr"] = err
    if rc != 0:
        res["stderr"] = err
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tool"); ap.add_argument("target"); ap.add_argument("rate", type=int)
    ap.add_argument("--dur", type=int, default=10); ap.add_argument("--warm", type=int, default=1)
    ap.add_argument("--tag", default=""); ap.add_argument("--extra", default="")
    ap.add_argument("--inner", action="store_true"); ap.add_argument("--tries", type=int, default=3)
    a = ap.parse_args()
    if a.inner:
        return inner(a)
    os.makedirs(LAB + "/tmp", exist_ok=True)
    for attempt in range(a.tries):
        wait_quiet(0.10, 180)  # outside the lock: don't start while others' (unlocked) work is running
        r = subprocess.run(["flock", LOCK, "taskset", "-c", "1", sys.executable] + sys.argv + ["--inner"],
                           capture_output=True, text=True)
        line = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else json.dumps({"error": r.stderr[-1000:]})
        d = json.loads(line)
        d["clean"] = d.get("cpu0_foreign", 1) < CLEAN and d.get("cpu1_foreign", 1) < CLEAN
        d["attempt"] = attempt
        with open(LAB + "/results.jsonl", "a") as f:
            f.write(json.dumps(d) + "\n")
        if d["clean"]:
            break
        print("  (contaminated: cpu0_foreign=%.2f cpu1_foreign=%.2f, retry)" % (d.get("cpu0_foreign", -1), d.get("cpu1_foreign", -1)))
    keys = ["tool", "target", "rate", "extra", "cg_period", "cg_quota", "n", "send_rate", "rate_ratio", "p50", "p99",
            "p999", "lag_p99", "lag_max", "cp99", "cli_util", "cli_us_per_req", "srv_us_per_req", "nr_throttled",
            "throttled_ms", "cpu0_foreign", "cpu1_foreign", "steal", "ListenOverflows", "TCPSynRetrans", "clean", "parse_error", "stderr", "error"]
    print(" ".join(f"{k}={round(d[k], 3) if isinstance(d[k], float) else d[k]}" for k in keys if k in d))


if __name__ == "__main__":
    main()
