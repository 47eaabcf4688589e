#!/bin/bash
# Q4: server capped at QUOTA_FRAC CPU (period PERIOD_US); sweep open-loop rates, 3 reps interleaved.
# usage: q4_capacity.sh TARGET(go|null) PERIOD_US "RATES" "GEN1|EXTRA1" ["GEN2|EXTRA2" ...]
cd /tmp/openloop-lab
T=$1; PER=$2; RATES=$3; shift 3
FRAC=${FRAC:-0.25}
Q=$(python3 -c "print(int($FRAC*$PER))")
./cg.sh set $PER $Q $(cat run/$T.pid) || exit 1
for rep in 1 2 3; do for r in $RATES; do for g in "$@"; do
  python3 olrun.py ${g%%|*} $T $r --dur 10 --tag q4 --extra "${g#*|}"
done; done; done
./cg.sh rm
