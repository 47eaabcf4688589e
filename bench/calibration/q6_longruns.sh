#!/bin/bash
# Do 30 s runs tighten the capacity estimate? Go gRPC capped 0.25 CPU / 10 ms, olgen, 375..675 req/s, 3 reps
# olgen (the first version of the open-loop generator) was superseded by go_service/cmd/openloop
# and removed from the repo; its source is in git history: git log --diff-filter=D -- bench/calibration/olgen
cd /tmp/openloop-lab
./cg.sh set 10000 2500 $(cat run/go.pid) || exit 1
for rep in 1 2 3; do for r in 375 450 525 600 675; do
  python3 olrun.py olgen go $r --dur 30 --tag q6 --extra "-mode grpc -conns 4"
done; done
./cg.sh rm
