#!/bin/bash
# stop servers started by startsrv.sh (by recorded pid only)
D=/tmp/openloop-lab/run
for k in "$@"; do [ -f $D/$k.pid ] && kill $(cat $D/$k.pid) 2>/dev/null; rm -f $D/$k.pid; done
