#!/bin/bash
# reproduce/inspect vegeta meltdown: run vegeta attack at RATE against TARGET, sample conns + client CPU every 1 s, keep results
cd /tmp/openloop-lab; T=${1:-null}; R=${2:-500}; X=${3:-}; OUT=run/melt_${T}_${R}_$(date +%s).bin
H=$(cat run/$T.http)
nice -n -10 taskset -c 1 bin/vegeta attack -targets=run/targets_$T.txt -rate=$R/1s -duration=10s -output=$OUT $X &
P=$!
for i in $(seq 12); do sleep 1; [ -d /proc/$P ] || break; echo "t=$i conns=$(ss -tnH state established "( dport = :${H##*:} )" | wc -l) threads=$(ls /proc/$P/task | wc -l) cpu=$(awk '{print $14+$15}' /proc/$P/stat)"; done
wait $P
bin/vegeta report $OUT | head -8
echo $OUT
