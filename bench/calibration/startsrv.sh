#!/bin/bash
# usage: startsrv.sh go|null  -> starts server pinned to CPU 0, writes run/<kind>.{pid,grpc,http}
set -e
kind=$1; D=/tmp/openloop-lab/run; mkdir -p $D
if [ "$kind" = go ]; then
  nice -n ${OL_NICE:--10} taskset -c 0 /work/main/go_service/bin/go_service --models /work/main/models --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --log-level warning 2>$D/$kind.log &
else
  nice -n ${OL_NICE:--10} taskset -c 0 /tmp/openloop-lab/bin/nullsrv 2>$D/$kind.log &
fi
pid=$!; echo $pid > $D/$kind.pid
for i in $(seq 100); do grep -q "http listening" $D/$kind.log 2>/dev/null && grep -q "grpc listening" $D/$kind.log && break; sleep 0.1; done
grep -o "grpc listening on [0-9.:]*" $D/$kind.log | awk '{print $4}' > $D/$kind.grpc
grep -o "http listening on [0-9.:]*" $D/$kind.log | awk '{print $4}' > $D/$kind.http
echo "$kind pid=$pid grpc=$(cat $D/$kind.grpc) http=$(cat $D/$kind.http)"
