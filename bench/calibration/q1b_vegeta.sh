#!/bin/bash
# Q1 re-run without the 5000 req/s meltdown runs interleaved (those poison the next runs, see tw_test.sh)
cd /tmp/openloop-lab
for rep in 1 2 3; do for tgt in go null; do for r in 500 2000; do
  python3 olrun.py vegeta $tgt $r --dur 10 --tag q1b
  python3 olrun.py olgen $tgt $r --dur 10 --tag q1b --extra "-mode http -conns 4"
done; done; done
