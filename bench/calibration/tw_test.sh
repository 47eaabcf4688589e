#!/bin/bash
# Does a vegeta overload run (many connections -> TIME_WAIT) poison the next run? (under the lock, one step per hold)
cd /tmp/openloop-lab; L=/tmp/servebench-measure.lock
tw() { ss -tan state time-wait | wc -l; }
run500() { flock $L /usr/bin/time -f "vegeta500 user=%U sys=%S wall=%e" nice -n -10 taskset -c 1 bin/vegeta attack -targets=run/targets_null.txt -rate=500/1s -duration=10s -output=run/tw_$1.bin; bin/vegeta report run/tw_$1.bin | sed -n 1,3p; }
echo "TIME_WAIT before: $(tw)"; run500 base
flock $L /usr/bin/time -f "vegeta6000 user=%U sys=%S wall=%e" nice -n -10 taskset -c 1 bin/vegeta attack -targets=run/targets_null.txt -rate=6000/1s -duration=5s -timeout=5s -output=run/tw_6000.bin
bin/vegeta report run/tw_6000.bin | sed -n 1,3p
echo "TIME_WAIT after overload: $(tw)"; run500 after
echo "sleep 65"; sleep 65; echo "TIME_WAIT: $(tw)"; run500 later
