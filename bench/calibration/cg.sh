#!/bin/bash
# cg.sh set PERIOD_US QUOTA_US PID  -> create /sys/fs/cgroup/cpu/servebench-lab, set period/quota, move PID (all threads) in
# cg.sh show                        -> print settings + cpu.stat
# cg.sh rm                          -> move all procs back to root, rmdir
CG=/sys/fs/cgroup/cpu/servebench-lab
case $1 in
set)
  mkdir -p $CG
  # order matters: shrinking period below current quota is refused, so reset quota first
  echo -1 > $CG/cpu.cfs_quota_us
  echo $2 > $CG/cpu.cfs_period_us || { echo "period $2 refused"; exit 2; }
  if [ "$3" != "-1" ]; then echo $3 > $CG/cpu.cfs_quota_us || { echo "quota $3 refused"; exit 3; }; fi
  echo $4 > $CG/cgroup.procs
  echo "period=$(cat $CG/cpu.cfs_period_us) quota=$(cat $CG/cpu.cfs_quota_us) procs=$(cat $CG/cgroup.procs | tr '\n' ' ') threads=$(wc -l < $CG/tasks)";;
show) for f in cpu.cfs_period_us cpu.cfs_quota_us cgroup.procs cpu.stat; do echo "== $f"; cat $CG/$f; done;;
rm)
  [ -d $CG ] || exit 0
  for p in $(cat $CG/cgroup.procs); do echo $p > /sys/fs/cgroup/cpu/cgroup.procs; done
  rmdir $CG && echo removed;;
esac
