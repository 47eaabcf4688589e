#!/usr/bin/env bash
# Which delay emulator for the network stage (bench/README.md "Across a network"): the null server
# (the seed's Go toy, GET /predict) at one request in flight over HTTP/1.1, kept alive (vegeta
# -rate=0 -max-workers=1, 3 s), directly and through: netproxy with no delay, 125 µs and 1 ms each
# way; Toxiproxy v2.12.0 with no toxic, a latency toxic of 1 ms each way (its smallest above 0) and
# of 20 ms each way. Server pinned to CPU 0; generator and proxy to CPU 1. Needs the repo built
# (make build bench-toys bench/netproxy/bin/netproxy) and TOXIPROXY (go install
# github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0). Prints p50, p90, p99 (ms) and their
# difference from direct.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../../.." && pwd)
V=$REPO/.tools/bin/vegeta
TOXIPROXY=${TOXIPROXY:?set TOXIPROXY to the toxiproxy server binary}
D=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf $D' EXIT
taskset -c 0 "$REPO/bench/toy/go/bin/toy" -addr 127.0.0.1:18180 >/dev/null 2>&1 &
taskset -c 1 "$REPO/bench/netproxy/bin/netproxy" -control 127.0.0.1:18199 \
  -route zero=127.0.0.1:18181,127.0.0.1:18180,0s -route lan=127.0.0.1:18182,127.0.0.1:18180,125us \
  -route ms=127.0.0.1:18183,127.0.0.1:18180,1ms 2>/dev/null &
taskset -c 1 "$TOXIPROXY" -host 127.0.0.1 -port 18474 >/dev/null 2>&1 &
sleep 1
api() { curl -sf -X POST "http://127.0.0.1:18474$1" -d "$2" >/dev/null; }
api /proxies '{"name":"tzero","listen":"127.0.0.1:18191","upstream":"127.0.0.1:18180"}'
api /proxies '{"name":"t1ms","listen":"127.0.0.1:18192","upstream":"127.0.0.1:18180"}'
api /proxies '{"name":"t20ms","listen":"127.0.0.1:18193","upstream":"127.0.0.1:18180"}'
for dir in upstream downstream; do
  api /proxies/t1ms/toxics "{\"type\":\"latency\",\"stream\":\"$dir\",\"attributes\":{\"latency\":1}}"
  api /proxies/t20ms/toxics "{\"type\":\"latency\",\"stream\":\"$dir\",\"attributes\":{\"latency\":20}}"
done
measure() {
  echo "GET http://127.0.0.1:$2/predict" | taskset -c 1 "$V" attack -rate=0 -workers=1 -max-workers=1 -duration=3s \
    | "$V" encode --to csv >"$D/$1.csv"
  python3 - "$1" "$D/$1.csv" <<'PY'
import csv, sys
x = sorted(int(r[2]) / 1e6 for r in csv.reader(open(sys.argv[2])))
print("%-22s n=%6d p50 %7.3f p90 %7.3f p99 %7.3f ms" % (sys.argv[1], len(x), x[len(x) // 2], x[int(len(x) * .9)], x[int(len(x) * .99)]))
PY
}
uptime
measure direct 18180
measure netproxy-0 18181
measure netproxy-125us 18182
measure netproxy-1ms 18183
measure toxiproxy-none 18191
measure toxiproxy-1ms 18192
measure toxiproxy-20ms 18193
