"""`python -m bench.run.netns_guard NAMESPACE HOST_VETH`: removes the network stage's namespace and
veth end when it is told to stop — by the bench at the end of the stage, or by the parent-death
signal the bench's Supervisor gives every child (setpriv --pdeathsig TERM) when the bench dies, even
of SIGKILL. Removing the namespace removes the veth pair and every qdisc on it.
"""

import os
import signal
import subprocess
import sys


def remove(namespace: str, host_veth: str) -> None:
    subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
    if os.path.exists(f"/sys/class/net/{host_veth}"):
        subprocess.run(["ip", "link", "del", host_veth], capture_output=True, check=False)


def main(argv: list[str]) -> int:
    namespace, host_veth = argv

    def stop(*_):
        remove(namespace, host_veth)
        os._exit(0)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    if os.getppid() == 1:  # the bench died before the handlers were in place
        stop()
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
