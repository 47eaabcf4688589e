#!/bin/bash
# Q1: vegeta floor vs Go and null HTTP servers, uncapped; 3 reps interleaved
cd /tmp/openloop-lab
for rep in 1 2 3; do for tgt in go null; do for r in 500 2000 5000; do
  python3 olrun.py vegeta $tgt $r --dur 10 --tag q1
done; done; done
