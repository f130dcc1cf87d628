"""Start the zygote: the fork server inside bubblewrap, started as early as possible.

This module imports neither torch nor the kit, so ``aekit grade`` can start the zygote (whose
imports take seconds) before its own imports, and both go on at once. The zygote says "ready"
when its imports are done; the first fork waits for it.
"""

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path

import psutil

from autograder.sandbox import fences

WEAK_ENV = "AEKIT_WEAK_ISOLATION"  # 1: grade even where the sandbox's fences cannot be raised
FIND_SECONDS = 30.0  # how long a forked child may take to show up in the process table
# One thread, alive as long as the grader, starts every zygote (see Zygote.__init__).
_LAUNCHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aekit-zygote-launcher")


class GradingStopped(RuntimeError):
    """The run was interrupted: no zygote starts any more."""


class IsolationUnavailable(RuntimeError):
    """The required fences cannot be raised here, and weak isolation was not allowed."""


# --- the zygote ----------------------------------------------------------------------------------


class Zygote:
    """The grader's handle on a zygote process (thread-safe)."""

    def __init__(self, weak: bool = False, imports: tuple[str, ...] = ()):
        self.weak = weak
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        command = [sys.executable, "-m", "autograder.sandbox.zygote", str(theirs.fileno())]
        command += imports
        if not weak:
            readable = [Path(sys.prefix), Path(sys.base_prefix), *fenced_python_paths()]
            readable += [Path(entry) for entry in sys.path if "site-packages" in entry]
            gpu = any(Path("/dev").glob("nvidia[0-9]*"))
            command = fences.wrap_command(command, readable=_existing(readable), gpu=gpu)
        # Silent: inside a Jupyter kernel any byte on stderr would land in (and zero) a grade cell.
        quiet = None if os.environ.get("AEKIT_SANDBOX_DEBUG") == "1" else subprocess.DEVNULL
        # From the launcher thread, never from the caller's: bubblewrap's --die-with-parent
        # kills the zygote when the *thread* that started it ends, and worker threads end.
        self.process = _LAUNCHER.submit(
            subprocess.Popen,
            command,
            pass_fds=[theirs.fileno()],
            env=_zygote_environment(),
            stdin=subprocess.DEVNULL,
            stdout=quiet,
            stderr=quiet,
            start_new_session=True,
        ).result()
        theirs.close()
        self.control = ours
        self.lock = threading.Lock()
        self.ready = False

    def _wait_ready(self) -> None:
        """Until the zygote's imports are done (it says "ready"); RuntimeError if it died."""
        if not self.ready:
            if self.control.recv(16) != b"ready":
                raise RuntimeError("the grading zygote failed to start")
            self.ready = True

    def fork(self, config: dict) -> tuple[int, Connection]:
        """Start a child running ``child_main(connection, config)``; its host pid and our end."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with self.lock:
            self._wait_ready()
            socket.send_fds(self.control, [json.dumps(config).encode()], [theirs.fileno()])
            answer = self.control.recv(32)
        theirs.close()
        if not answer:
            ours.close()
            raise RuntimeError("the grading zygote died")
        pid = int(answer)
        return (pid if self.weak else self._host_pid(pid)), Connection(ours.detach())

    def _host_pid(self, inner: int) -> int:
        """The pid, as this process sees it, of the zygote's child numbered ``inner`` inside
        its PID namespace (from each descendant's NSpid line)."""
        deadline = time.monotonic() + FIND_SECONDS  # generous: a busy machine is slow to fork
        while time.monotonic() < deadline:
            with contextlib.suppress(psutil.Error):
                for process in psutil.Process(self.process.pid).children(recursive=True):
                    if _inner_pid(process.pid) == inner:
                        return process.pid
            time.sleep(0.01)
        raise RuntimeError("the grading zygote's child could not be found")

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self.control.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        if self.process.poll() is None:
            self.process.kill()


def _inner_pid(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except (OSError, ValueError):
        return None
    return None


def _existing(paths: list[Path]) -> list[Path]:
    return sorted({path for path in paths if path.exists()})


_zygote: Zygote | None = None
_zygote_lock = threading.Lock()
_stopped = False  # an interrupted run: no new zygote


def weak_allowed() -> bool:
    return os.environ.get(WEAK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def shared_zygote(assignment: str | None = None) -> Zygote:
    """The process-wide zygote, started on first use (and again if it died).

    It imports what the notebooks of ``assignment`` import, or of every assignment when none
    is named: a zygote started for one assignment grades the others too, a little slower.

    Fails closed: without bubblewrap, user namespaces or seccomp it raises
    :class:`IsolationUnavailable` unless weak isolation was allowed (``AEKIT_WEAK_ISOLATION=1``,
    which ``aekit grade --weak-isolation`` sets).
    """
    global _zygote
    with _zygote_lock:
        if _stopped:
            raise GradingStopped("Grading was interrupted.")
        if _zygote is None or not _zygote.alive():
            found = fences.availability()
            if not found.ok and not weak_allowed():
                raise IsolationUnavailable(
                    f"the sandbox cannot be raised here: {', '.join(found.missing)} missing. "
                    f"{found.advice} To grade anyway with weaker isolation, pass "
                    "--weak-isolation (or set AEKIT_WEAK_ISOLATION=1)."
                )
            _zygote = Zygote(not found.ok, _notebook_imports(assignment))
        return _zygote


def _notebook_imports(assignment: str | None) -> tuple[str, ...]:
    from autograder import course

    names = [assignment] if assignment else course.names()
    return tuple(
        dict.fromkeys(module for name in names for module in course.notebook_imports(name))
    )


def stop_zygote() -> None:
    """Kill the shared zygote and, with its namespace, every child (an interrupted run); no
    new one starts until :func:`allow_zygote`."""
    global _zygote, _stopped
    with _zygote_lock:
        _stopped = True
        if _zygote is not None:
            with contextlib.suppress(OSError):
                _zygote.process.kill()
            _zygote = None


def allow_zygote() -> None:
    global _stopped
    _stopped = False


def _zygote_environment() -> dict[str, str]:
    # torch.cuda.is_available() through NVML does not initialise CUDA, so children forked
    # from the zygote can still use the GPU.
    extra = {"PYTORCH_NVML_BASED_CUDA_CHECK": "1"}
    if os.environ.get("AEKIT_SANDBOX_DEBUG") == "1":
        extra["AEKIT_SANDBOX_DEBUG"] = "1"
    return _environment(("PYTHONPATH", "VIRTUAL_ENV"), extra)


def _environment(keep: tuple[str, ...], extra: dict[str, str]) -> dict[str, str]:
    """A minimal environment: no tokens or secrets of the grading machine reach the sandbox."""
    keep = ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", *keep)
    environment = {key: os.environ[key] for key in keep if key in os.environ}
    scratch = {"HOME": "/tmp", "TMPDIR": "/tmp", "MPLCONFIGDIR": "/tmp"}
    return (
        environment
        | scratch
        | {"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
        | {"AEKIT_GRADING": "1"}
        | extra
    )


def fenced_python_paths() -> list[Path]:
    """What a child must be able to read: this package, the loader, the public kit (found
    without importing the kit, which would import torch)."""
    here = Path(__file__).resolve().parent
    aekit = importlib.util.find_spec("aekit")
    kit = [Path(location) for location in aekit.submodule_search_locations] if aekit else []
    return [here, here.parent / "__init__.py", here.parent / "loader.py", *kit]
