"""The zygote: a fresh interpreter that imports torch once, then forks one child per request.

Starting a Python process with torch takes seconds and hundreds of megabytes; forking one
that has already imported everything takes milliseconds and shares that memory. The zygote
runs inside bubblewrap (:func:`autograder.sandbox.fences.wrap_command`), started with
``python -m autograder.sandbox.zygote``, never forked from the grader, so its memory holds
nothing the grader has loaded: no reference, no hidden check. It imports only what a child
needs, and its file system holds only Python, its packages, the public kit and this package.

Protocol on the control socket: the grader sends a JSON config and one file descriptor (its
end of a socket pair); the zygote forks, the child runs
:func:`autograder.sandbox.child.child_main` on that socket, and the zygote answers with the
child's pid as the zygote's namespace numbers it.
"""

import json
import os
import select
import signal
import socket
import sys
from multiprocessing.connection import Connection

# Imported before the zygote says "ready": what every child needs.
PRELOAD = (
    "torch",
    # Operations on the meta device (the device checks) import torch._dynamo on first use:
    # 2 s per child unless the zygote has it already.
    "torch._dynamo",
    "autograder.sandbox.child",
    "aekit.checks.cardiac",  # the public checks' seeded fixtures, which the grader sends
)
# Imported after "ready", one module whenever no fork is asked for: what the notebooks import
# (a child that imports them itself spends half a second on scipy and matplotlib alone).
WARM = (
    "aekit.training",
    "aekit.metrics",
    "aekit.explorer",
    "aekit.plotting",
    "aekit.latent",
    "aekit.datasets.mnist",
    "matplotlib.pyplot",
    "aekit.anatomy",
    "aekit.datasets.acdc",
)
MESSAGE = 1 << 20


def _reap(signum, frame) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main(control_fd: int) -> None:
    """Zygote loop: import everything, then fork one child per request until EOF."""
    import importlib

    # No parent-death signal here: Linux sends it when the *thread* that started us ends,
    # which a grader's worker thread may do at any time. The zygote ends instead when its
    # control socket closes (bubblewrap's --die-with-parent covers a killed grader).
    for name in PRELOAD:
        importlib.import_module(name)
    from autograder.sandbox import fences
    from autograder.sandbox.child import child_main

    fences.seal_zygote()  # no child may open the zygote's (or a sibling's) memory

    signal.signal(signal.SIGCHLD, _reap)
    control = socket.socket(fileno=control_fd)
    control.sendall(b"ready")
    warm = list(WARM)
    while True:
        if warm and not select.select([control], [], [], 0)[0]:
            importlib.import_module(warm.pop(0))  # idle: one more module for later children
            continue
        try:
            message, fds, _, _ = socket.recv_fds(control, MESSAGE, 1)
        except InterruptedError:
            continue
        if not message or not fds:
            return
        pid = os.fork()
        if pid == 0:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            try:
                child_main(Connection(fds[0]), json.loads(message))
            finally:
                os._exit(0)
        os.close(fds[0])
        control.sendall(str(pid).encode())


if __name__ == "__main__":
    main(int(sys.argv[1]))
