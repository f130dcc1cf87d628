"""The zygote: a fresh interpreter that imports torch once, then forks one child per request.

Starting a Python process with torch takes seconds and hundreds of megabytes; forking one
that has already imported everything takes milliseconds and shares that memory. The zygote
runs inside bubblewrap (:func:`autograder.sandbox.fences.wrap_command`), started with
``python -m autograder.sandbox.zygote``, never forked from the grader, so its memory holds
nothing the grader has loaded: no reference, no hidden check. It imports only what a child
needs, and its file system holds only Python, its packages, the public kit and this package.

``python -m autograder.sandbox.zygote FD MODULE...``: the modules are those the notebooks of
the assignment being graded import (:func:`autograder.course.notebook_imports`).

Protocol on the control socket: the grader sends a JSON config and one file descriptor (its
end of a socket pair); the zygote forks, the child runs
:func:`autograder.sandbox.child.child_main` on that socket, and the zygote answers with the
child's pid as the zygote's namespace numbers it.
"""

import contextlib
import gc
import json
import os
import signal
import socket
import sys
from multiprocessing.connection import Connection

# Imported before the zygote says "ready", so that every child shares them: what a child
# needs, then what the assignment's notebooks import (the grader names those modules on the
# command line; a child that imported them itself would spend a second on each load).
# torch comes first, with a stand-in for torch._dynamo (see deferred_dynamo): eager code
# imports the compiler (1.7 s, 70 MB) only to mark functions it must not compile.
PRELOAD = (
    "autograder.sandbox.child",
    "aekit.checks.cardiac",  # the public checks' seeded fixtures, which the grader sends
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


def _warm_up() -> None:
    """Run once what the device checks run in every child, the reference's included (its
    pieces answer them): a layer on the meta device imports torch's symbolic shapes and sympy,
    0.4-0.7 s."""
    import torch

    layer = torch.nn.Conv2d(1, 1, 1, device="meta")
    layer(torch.empty(1, 1, 2, 2, device="meta")).relu().sum()


def main(control_fd: int, notebook_imports: list[str]) -> None:
    """Zygote loop: import everything, then fork one child per request until EOF."""
    import importlib

    # No parent-death signal here: Linux sends it when the *thread* that started us ends,
    # which a grader's worker thread may do at any time. The zygote ends instead when its
    # control socket closes (bubblewrap's --die-with-parent covers a killed grader).
    from autograder.sandbox import deferred_dynamo

    deferred_dynamo.install()
    for name in PRELOAD:
        importlib.import_module(name)
    for name in notebook_imports:  # one that fails is the notebook's to report, when it loads
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    _warm_up()
    from autograder.sandbox import fences
    from autograder.sandbox.child import child_main

    fences.seal_zygote()  # no child may open the zygote's (or a sibling's) memory
    # What the zygote imported lives as long as every child: out of the collector's way, so
    # that no child's full collection walks torch's heap (0.1-0.2 s per submission) or
    # copies the pages it touches.
    gc.freeze()

    signal.signal(signal.SIGCHLD, _reap)
    control = socket.socket(fileno=control_fd)
    control.sendall(b"ready")
    while True:
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
    main(int(sys.argv[1]), sys.argv[2:])
