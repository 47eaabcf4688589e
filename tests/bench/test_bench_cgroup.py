"""The server CPU cap: set through the kernel's CFS bandwidth control, a process put in it, the
quota read back, and the group removed. Skipped with the reason where no cgroup is writable."""

import os
import subprocess
import sys
import time

import pytest

from bench.run import cgroup


def _cap_or_skip(quota, period_us):
    try:
        return cgroup.CpuCap("test", quota, period_us)
    except cgroup.CgroupError as exc:
        if "no writable cgroup" in str(exc) or "cannot set" in str(exc):
            pytest.skip(f"this machine has no writable cgroup CPU controller: {exc}")
        raise


def _quota_written(cap):
    if cap.version == 2:
        with open(os.path.join(cap.path, "cpu.max"), encoding="ascii") as fh:
            return fh.read().split()
    with open(os.path.join(cap.path, "cpu.cfs_quota_us"), encoding="ascii") as fh:
        quota = fh.read().strip()
    with open(os.path.join(cap.path, "cpu.cfs_period_us"), encoding="ascii") as fh:
        return [quota, fh.read().strip()]


def test_a_quota_under_the_kernel_minimum_names_the_fix():
    with pytest.raises(cgroup.CgroupError, match="under the kernel's 1 ms minimum; use a longer period"):
        cgroup.CpuCap("test", 0.25, 2000)


def test_quota_is_set_applied_and_removed():
    cap = _cap_or_skip(0.2, 10000)
    path = cap.path
    try:
        assert _quota_written(cap) == ["2000", "10000"]
        spin = "import time\nend = time.time() + 0.6\nwhile time.time() < end: pass\n"
        child = subprocess.Popen([sys.executable, "-c", spin], preexec_fn=cap.preexec)
        start = time.monotonic()
        child.wait(timeout=30)
        wall = time.monotonic() - start
        with open(os.path.join(cap.path, "cpu.stat"), encoding="ascii") as fh:
            stat = dict(line.split() for line in fh)
        usage_s = int(stat.get("usage_usec", 0)) / 1e6
        throttling = cap.throttling()
        assert throttling["throttled"] > 0  # the kernel held it back
        if usage_s:  # v2 reports usage: at most ~20% of one CPU over the child's life
            assert usage_s <= 0.2 * wall * 1.5 + 0.05
    finally:
        cap.close()
    assert not os.path.exists(path)
