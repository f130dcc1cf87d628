"""The zygote: a fresh interpreter that imports torch and the checks once, then forks children.

Starting a Python process with torch takes seconds and hundreds of megabytes; forking one
that has already imported everything takes milliseconds and shares that memory. The zygote
is started with ``python -m autograder.zygote``, not forked from the grader, so its memory
holds no reference solution, whatever the grader has loaded.

Protocol on the control socket: the grader sends a JSON config and one file descriptor (its
end of a socket pair); the zygote forks, the child runs :func:`autograder.sandbox.child_main`
on that socket, and the zygote answers with the child's pid.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection

PRELOAD = (
    "torch",
    # Operations on the meta device (the device checks) import torch._dynamo on first use:
    # 2 s per child unless the zygote has it already.
    "torch._dynamo",
    "autograder.sandbox",
    "autograder.assignments",
    "aekit.training",
    "aekit.metrics",
    "aekit.explorer",
    "aekit.datasets.mnist",
)
_MESSAGE = 1 << 20


class Zygote:
    """The grader's handle on a zygote process (thread-safe)."""

    def __init__(self, environment: dict[str, str]):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        command = [sys.executable, "-m", "autograder.zygote", str(theirs.fileno())]
        # Silent: inside a Jupyter kernel any byte on stderr would land in (and zero) a grade cell.
        quiet = None if os.environ.get("AEKIT_SANDBOX_DEBUG") == "1" else subprocess.DEVNULL
        self.process = subprocess.Popen(
            command,
            pass_fds=[theirs.fileno()],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=quiet,
            stderr=quiet,
        )
        theirs.close()
        self.control = ours
        self.lock = threading.Lock()
        if self.control.recv(16) != b"ready":
            raise RuntimeError("the grading zygote failed to start")

    def fork(self, config: dict) -> tuple[int, Connection]:
        """Start a child running ``child_main(connection, config)``; return its pid and our end."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with self.lock:
            socket.send_fds(self.control, [json.dumps(config).encode()], [theirs.fileno()])
            answer = self.control.recv(32)
        theirs.close()
        if not answer:
            ours.close()
            raise RuntimeError("the grading zygote died")
        return int(answer), Connection(ours.detach())

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self.control.close()
        self.process.wait(timeout=10)


_zygote: Zygote | None = None
_zygote_lock = threading.Lock()


def shared_zygote() -> Zygote:
    """The process-wide zygote, started on first use (and again if it died)."""
    global _zygote
    with _zygote_lock:
        if _zygote is None or not _zygote.alive():
            _zygote = Zygote(_zygote_environment())
        return _zygote


def _zygote_environment() -> dict[str, str]:
    keep = (
        "PATH",
        "LANG",
        "LC_ALL",
        "CUDA_VISIBLE_DEVICES",
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "HOME",
        "AEKIT_SANDBOX_DEBUG",
    )
    environment = {key: os.environ[key] for key in keep if key in os.environ}
    # torch.cuda.is_available() through NVML does not initialise CUDA, so children forked
    # from the zygote can still use the GPU.
    environment.update(
        MPLBACKEND="Agg", OMP_NUM_THREADS="1", AEKIT_GRADING="1", PYTORCH_NVML_BASED_CUDA_CHECK="1"
    )
    return environment


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
    # control socket closes, and its children die with it.
    for name in PRELOAD:
        importlib.import_module(name)
    from autograder.sandbox import child_main

    signal.signal(signal.SIGCHLD, _reap)
    control = socket.socket(fileno=control_fd)
    control.sendall(b"ready")
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, _MESSAGE, 1)
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
