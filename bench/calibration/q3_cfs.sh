#!/bin/bash
# Q3: CFS bandwidth cap on the Go gRPC server: quota 0.25/0.5 CPU x period 1,2,4,10,100 ms (+ no cap), loads 200/600 rps (600 x ~200 us = ~0.12 CPU: half of the 0.25 quota)
# olgen -mode grpc -conns 4 (open loop). 3 reps, combos interleaved.
cd /tmp/openloop-lab
PID=$(cat run/go.pid)
GEN=olgen; X="-mode grpc -conns 4"   # reference open-loop generator (see report); ghz floor is too high at 1000 rps
for rep in 1 2 3; do
 for load in 200 600; do
  ./cg.sh rm >/dev/null
  python3 olrun.py $GEN go $load --dur 10 --tag q3 --extra "$X"
  for frac in 0.25 0.5; do for per in 1000 2000 4000 10000 100000; do
    q=$(python3 -c "print(int($frac*$per))")
    if ! ./cg.sh set $per $q $PID > /tmp/openloop-lab/run/cg.out 2>&1; then
      [ $rep = 1 ] && echo "REFUSED frac=$frac period=$per quota=$q: $(tr '\n' ' ' < /tmp/openloop-lab/run/cg.out)"
      continue
    fi
    python3 olrun.py $GEN go $load --dur 10 --tag q3 --extra "$X"
  done; done
 done
done
./cg.sh rm
