#!/bin/bash
# extra runs: (A) instrument floor at Q4 rates vs uncapped null server; (C) generator max rates; (E) finer Q4 capacity points
# olgen (the first version of the open-loop generator) was superseded by go_service/cmd/openloop
# and removed from the repo; its source is in git history: git log --diff-filter=D -- bench/calibration/olgen
cd /tmp/openloop-lab
./cg.sh rm >/dev/null
for rep in 1 2 3; do
  for g in "ghz|--async -c 4 --connections 4" "olgen|-mode grpc -conns 4" "vegeta|" "olgen|-mode http -conns 4"; do
    python3 olrun.py ${g%%|*} null 450 --dur 10 --tag floor450 --extra "${g#*|}"
  done
  python3 olrun.py vegeta null 3000 --dur 10 --tag vmax
  python3 olrun.py olgen null 5000 --dur 10 --tag vmax --extra "-mode http -conns 4"
  python3 olrun.py olgen go 2000 --dur 10 --tag vmax --extra "-mode grpc -conns 4"
  python3 olrun.py olgen go 5000 --dur 10 --tag vmax --extra "-mode grpc -conns 4"
  python3 olrun.py olgen go 2000 --dur 10 --tag vmax --extra "-mode http -conns 4"
  sleep 60   # let TIME_WAIT from any vegeta meltdown expire before the next rep
done
./q4_capacity.sh go 10000 "375 525" "olgen|-mode grpc -conns 4" "vegeta|"
