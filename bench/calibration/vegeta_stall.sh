#!/bin/bash
# vegeta at RATE vs TARGET; at t=3 s the server is SIGSTOPped for STALL seconds (simulates a long throttle); watch conns/CPU
cd /tmp/openloop-lab; T=${1:-null}; R=${2:-500}; S=${3:-0.3}; X=${4:-}; OUT=run/stall_${T}_${R}_$(date +%s).bin
H=$(cat run/$T.http); SP=$(cat run/$T.pid)
nice -n -10 taskset -c 1 bin/vegeta attack -targets=run/targets_$T.txt -rate=$R/1s -duration=10s -output=$OUT $X &
P=$!
sleep 3; kill -STOP $SP; sleep $S; kill -CONT $SP
for i in $(seq 4 14); do sleep 1; [ -d /proc/$P ] || break; echo "t=$i conns=$(ss -tnH state established "( dport = :${H##*:} )" | wc -l) threads=$(ls /proc/$P/task | wc -l) cpu=$(awk '{print $14+$15}' /proc/$P/stat)"; done
wait $P
bin/vegeta report $OUT | head -8
