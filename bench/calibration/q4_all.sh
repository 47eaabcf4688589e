#!/bin/bash
# Q4 driver: quota 0.25 CPU, period 10 ms; Go server (gRPC+HTTP) then null server; generators ghz/olgen (gRPC), vegeta/olgen (HTTP)
cd /tmp/openloop-lab
G1="ghz|--async -c 4 --connections 4"; G2="olgen|-mode grpc -conns 4"; H1="vegeta|"; H2="olgen|-mode http -conns 4"
./q4_capacity.sh go 10000 "300 450 600" "$G1" "$G2" "$H1" "$H2"
./q4_capacity.sh null 10000 "800 1400" "$G1" "$G2" "$H1" "$H2"
# period comparison near capacity (gRPC, olgen)
for per in 4000 100000; do ./q4_capacity.sh go $per "450" "$G2"; done
