"""The processes a server starts, and how none of them outlives its parent (issue: a killed HTTP
host left granian's worker listening on the port, unsupervised).

Three layers, each for a way a parent can die:
- every child of the supervisor leads a process group of its own (its own session), which holds
  whatever it forks (granian's and gunicorn's workers): when a child exits, however it exits, the
  supervisor SIGKILLs its whole group *before* reaping it (`ended`), so that no process of a dead
  child's group is left, and the group id cannot have been reused meanwhile (a zombie holds it);
- every process below the supervisor asks the kernel for a signal when its parent dies
  (`die_with_parent`: prctl(PR_SET_PDEATHSIG), then a check that the parent is still the one it was
  started by, for a parent that died before the call): children of the supervisor get SIGTERM (they
  drain: the supervisor is gone, nobody else would stop them), a host's own workers get SIGKILL
  (their host is gone: nothing serves beside the new one);
- the supervisor, on SIGTERM/SIGINT, lets each child drain, waits a bounded time, then SIGKILLs each
  group (`stop`).
Why both the group and the parent-death signal: the group needs a living supervisor (it acts when
it sees a child die); the parent-death signal covers the supervisor's own SIGKILL, and a host's
workers whose host died between two of the supervisor's looks.
"""

import ctypes
import os
import signal
import subprocess
import sys
import time

_PR_SET_PDEATHSIG = 1
POLL_S = 0.05


def die_with_parent(sig, parent_pid):
    """Ask for `sig` when the parent dies; exit now if the parent is not `parent_pid` any more (it
    died before the request took effect). Linux only; elsewhere only the check runs."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


def spawn(module, env):
    """`python -m module` as a child of this process: its own session and process group, SIGTERM
    when this process dies."""
    parent = os.getpid()
    return subprocess.Popen(
        [sys.executable, "-m", module],
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=lambda: die_with_parent(signal.SIGTERM, parent),
    )


def exited(child):
    """Whether a child has exited, without reaping it (its pid, and so its group id, stay taken)."""
    if child.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def ended(child):
    """A child that has exited: SIGKILL whatever is left of its process group, then reap it; its
    exit status."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return child.wait()


def stop(children, timeout_s):
    """SIGTERM every child still running (each drains), wait up to `timeout_s` for all, then SIGKILL
    every group (the stragglers, and anything a child left); their exit statuses."""
    for child in children:
        if not exited(child):
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not all(exited(child) for child in children):
        time.sleep(POLL_S)
    return [ended(child) for child in children]
