#!/bin/bash
# Q2: ghz open loop vs Go gRPC server (uncapped): async vs sync, workers (-c), connections; 3 reps interleaved
cd /tmp/openloop-lab
for rep in 1 2 3; do for r in 500 2000 5000; do
  for x in "--async -c 1 --connections 1" "--async -c 4 --connections 4" "-c 50 --connections 1" "-c 1 --connections 1"; do
    python3 olrun.py ghz go $r --dur 10 --tag q2 --extra "$x"
  done
done; done
