"""The sandbox: a separate, limited process that runs a student's code on request.

The trusted grader never runs student code itself. It asks the zygote
(:mod:`autograder.zygote`), a fresh interpreter that imported torch and the checks and never
saw a reference solution, to fork a child, so the child's memory holds no answers. The child loads the notebook's definitions,
then answers requests ("run this check's probe") with plain observations, which the trusted
side judges. The child lives under a wall-time limit per request, a memory limit and the fences
of :mod:`autograder.isolation`; when it hangs, crashes or blows its memory it is killed and a
fresh one takes over for the remaining checks.
"""

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import torch

from aekit.checks.core import run_probe
from autograder import isolation, loader, transport
from autograder.assignments import COURSE_ROOT, get_assignment


@dataclass(frozen=True)
class Limits:
    """Per-request wall time, memory and output limits of a sandboxed child."""

    check_seconds: float = 30.0
    statement_seconds: float = 3.0  # soft limit of one notebook statement while loading
    load_seconds: float = 60.0  # all of loading
    memory_mb: int = 3072  # new address space a child may map (CPU), and its resident cap
    restarts: int = 8  # fresh children per submission before giving up


# --- the child ---------------------------------------------------------------------------------


def child_main(connection, config: dict) -> None:
    """Entry point of a sandboxed child (runs in a process forked from the fork server)."""
    os.environ.clear()
    os.environ.update(config["environment"])
    scratch = Path(config["scratch"])
    os.chdir(scratch)
    if not config.get("debug"):  # AEKIT_SANDBOX_DEBUG=1 keeps the child's stderr for debugging
        _silence_output()
    fences = _raise_fences(config, scratch)
    torch.set_num_threads(1)  # jobs run in parallel; one thread each also makes sums deterministic
    if config["device"] == "cuda":
        torch.backends.cuda.matmul.fp32_precision = "ieee"  # TF32 off: CPU and GPU agree
        torch.backends.cudnn.conv.fp32_precision = "ieee"
    worker = _Worker(config, fences)
    while True:
        try:
            request = transport.unpack(connection.recv_bytes())
        except EOFError:
            return
        try:
            reply = worker.handle(request, connection)
        except BaseException as error:  # noqa: BLE001 - report, never die silently
            reply = {"op": "failed", "message": f"{type(error).__name__}: {error}"[:500]}
        connection.send_bytes(transport.pack(reply))
        if request.get("op") == "exit":
            return


def _silence_output() -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for descriptor in (0, 1, 2):
        os.dup2(devnull, descriptor)
    # input() gets EOF at once; prints, however many, cost nothing and reach no one.
    sys.stdin = open(os.devnull)  # noqa: SIM115
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115


def _raise_fences(config: dict, scratch: Path) -> list[str]:
    up = []
    isolation.die_with_parent()
    if isolation.leave_network():
        up.append("network namespace")
    memory = config["memory_mb"] << 20 if config["device"] == "cpu" else None
    isolation.limit_resources(memory)
    up.append("resource limits")
    readable = isolation.readable_roots([Path(config["aekit"])])
    if isolation.become_nobody(
        scratch, [Path(sys.prefix), Path(sys.base_prefix), Path(config["aekit"])]
    ):
        up.append("user nobody")
    writable = [scratch, Path(os.devnull)]
    if config["device"] == "cuda":  # the driver talks to the GPU through these device files
        writable += isolation.gpu_device_files()
        readable += [Path("/proc/driver/nvidia"), Path("/sys")]
    if isolation.fence_files(readable, writable):
        up.append(f"landlock (ABI {isolation.landlock_abi()})")
    isolation.install_audit_hook([Path(root) for root in config["forbidden"]])
    up.append("audit hook")
    return up


class _Worker:
    """The child's state: the notebook namespace and the catalogue of checks."""

    def __init__(self, config: dict, fences: list[str]):
        self.assignment = get_assignment(config["assignment"])
        self.checks = {check.name: check for check in self.assignment.checks}
        self.device = config["device"]
        self.fences = fences
        self.namespace: dict[str, Any] = {"__name__": "__notebook__"}

    def handle(self, request: dict, connection) -> dict:
        operation = request.get("op")
        if operation == "load":
            return self.load(request, connection)
        if operation == "inject":
            return self.inject(request)
        if operation == "check":
            return self.check(request["name"])
        return {"op": "bye"}

    def load(self, request: dict, connection) -> dict:
        statements, notes = loader.plan([(cell, source) for cell, source in request["cells"]])

        def report(statement: loader.Statement) -> None:
            connection.send_bytes(transport.pack({"op": "progress", "at": list(statement.key)}))

        skip = frozenset(tuple(key) for key in request["skip"])
        slow: list[tuple[int, int]] = []
        notes += loader.execute(
            statements,
            self.namespace,
            skip=skip,
            seconds=request["statement_seconds"],
            before=report,
            slow=slow,
        )
        return {"op": "loaded", "notes": notes, "fences": self.fences, "slow": slow}

    def inject(self, request: dict) -> dict:
        """Replace the student's pieces by the reference's, for grading composite exercises."""
        pieces: dict[str, Any] = {"__name__": "__reference__"}
        exec(request["imports"], pieces)  # noqa: S102
        for source in request["sources"].values():
            exec(source, pieces)  # noqa: S102
        for name in request["sources"]:
            self.namespace[name] = pieces[name]
        return {"op": "injected"}

    def check(self, name: str) -> dict:
        status, payload = run_probe(self.checks[name], self.namespace, self.device)
        return {"op": "outcome", "status": status, "payload": payload}


# --- the parent --------------------------------------------------------------------------------


class ChildLost(Exception):
    """The child died, hung or used too much memory; ``kind`` and the message say which."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass
class Sandbox:
    """A sandboxed child for one submission, restarted as needed.

    ``cells`` are the notebook's (cell number, source) pairs. Call :meth:`load` first, then
    :meth:`run` per check; :meth:`inject` swaps in reference pieces for composite exercises.
    """

    assignment: str
    cells: list[tuple[int, str]]
    device: str = "cpu"
    limits: Limits = field(default_factory=Limits)
    forbidden: tuple[Path, ...] = ()
    notes: list[str] = field(default_factory=list)
    fences: list[str] = field(default_factory=list)
    restarts: int = 0

    def __post_init__(self):
        self.skip: set[tuple[int, int]] = set()
        self.injected: dict | None = None
        self.pid = 0
        self.process = None
        self.connection = None
        self.scratch = None

    # lifecycle

    def load(self) -> None:
        """Start a child and load the notebook, skipping statements that hung before."""
        while True:
            self._spawn()
            deadline = time.monotonic() + self.limits.load_seconds
            request = {
                "op": "load",
                "cells": [list(cell) for cell in self.cells],
                "skip": [list(key) for key in self.skip],
                "statement_seconds": self.limits.statement_seconds,
            }
            self._send(request)
            current = None
            try:
                while True:
                    reply = self._receive(
                        min(self.limits.statement_seconds + 5, deadline - time.monotonic())
                    )
                    if reply.get("op") == "progress":
                        current = tuple(reply["at"])
                        continue
                    self.notes += [str(note) for note in reply.get("notes", [])]
                    # Statements cut by the soft limit are skipped at once by later reloads.
                    self.skip |= {(int(cell), int(line)) for cell, line in reply.get("slow", [])}
                    self.fences = [str(fence) for fence in reply.get("fences", [])]
                    break
            except ChildLost as lost:
                self._stop()
                if (
                    current is None
                    or self.restarts >= self.limits.restarts
                    or time.monotonic() > deadline
                ):
                    raise
                self.skip.add(current)
                self.notes.append(
                    f"cell {current[0]}, line {current[1]}: skipped `{self._line(current)}`: {lost}"
                )
                self.restarts += 1
                continue
            if self.injected is not None:
                self._request(self.injected, self.limits.check_seconds)
            return

    def _line(self, key: tuple[int, int]) -> str:
        """The source line at (cell, line), shortened, for notes."""
        source = dict(self.cells).get(key[0], "")
        lines = source.splitlines()
        text = lines[key[1] - 1].strip() if 0 < key[1] <= len(lines) else ""
        return text if len(text) <= 60 else text[:57] + "..."

    def inject(self, imports: str, sources: dict[str, str]) -> None:
        """Swap in reference pieces now, and again in every child started later."""
        self.injected = {"op": "inject", "imports": imports, "sources": sources}
        if self.process is None:
            return  # the next load() injects them
        try:
            self._request(self.injected, self.limits.check_seconds)
        except ChildLost:
            self._stop()

    def run(self, name: str) -> tuple[str, Any]:
        """Run one check's probe; an outcome as :func:`aekit.checks.core.run_probe` returns."""
        if self.process is None:
            self.restarts += 1
            if self.restarts > self.limits.restarts:
                return "error", {
                    "kind": "skipped",
                    "message": "Not run: your code crashed the sandbox too often.",
                }
            try:
                self.load()
            except ChildLost as lost:
                self._stop()
                return "error", {
                    "kind": lost.kind,
                    "message": f"Not run: reloading your notebook failed ({lost}).",
                }
        try:
            reply = self._request({"op": "check", "name": name}, self.limits.check_seconds)
        except ChildLost as lost:
            self._stop()
            return "error", {"kind": lost.kind, "message": str(lost)}
        if reply.get("op") == "failed":  # the probe machinery itself tripped over the code
            return "error", {
                "kind": "crashed",
                "message": f"The check could not run: {reply.get('message')}",
            }
        if reply.get("op") != "outcome" or reply.get("status") not in {"observed", "error"}:
            return "error", {"kind": "mismatch", "message": "The sandbox answered out of turn."}
        return reply["status"], reply.get("payload")

    def close(self) -> None:
        self._stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # plumbing

    def _spawn(self) -> None:
        from autograder.zygote import shared_zygote  # the zygote imports this module

        self.scratch = Path(tempfile.mkdtemp(prefix="aekit-sandbox-"))
        config = {
            "assignment": self.assignment,
            "device": self.device,
            "scratch": str(self.scratch),
            "memory_mb": self.limits.memory_mb,
            "aekit": str(Path(__import__("aekit").__file__).parent),
            "forbidden": [
                str(Path(path).resolve())
                for path in self.forbidden + forbidden_defaults(COURSE_ROOT)
            ],
            "environment": _child_environment(self.scratch),
            "debug": os.environ.get("AEKIT_SANDBOX_DEBUG") == "1",
        }
        self.pid, self.connection = shared_zygote().fork(config)
        self.process = psutil.Process(self.pid)

    def _alive(self) -> bool:
        try:
            return self.process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def _stop(self) -> None:
        if self.process is not None and self._alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        if self.connection is not None:
            self.connection.close()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
        self.process = self.connection = self.scratch = None

    def _send(self, message: dict) -> None:
        self.connection.send_bytes(transport.pack(message))

    def _request(self, message: dict, seconds: float) -> dict:
        try:
            self._send(message)
        except OSError:
            raise ChildLost("crashed", self._death()) from None
        return self._receive(seconds)

    def _receive(self, seconds: float) -> dict:
        """The next message, or :class:`ChildLost` after ``seconds`` or when the child dies."""
        deadline = time.monotonic() + max(seconds, 0.1)
        while True:
            if self.connection.poll(0.05):
                try:
                    reply = transport.unpack(self.connection.recv_bytes(transport.MAX_MESSAGE))
                except (EOFError, OSError):
                    raise ChildLost("crashed", self._death()) from None
                except transport.TransportError as error:
                    raise ChildLost(
                        "crashed", f"The sandbox sent an unreadable answer ({error})."
                    ) from None
                if not isinstance(reply, dict):
                    raise ChildLost("crashed", "The sandbox sent an unreadable answer.")
                return reply
            if not self._alive():
                raise ChildLost("crashed", self._death())
            if _resident_mb(self.process) > self.limits.memory_mb + 1024:
                raise ChildLost(
                    "memory", f"Your code used more than {self.limits.memory_mb} MB of memory."
                )
            if time.monotonic() > deadline:
                raise ChildLost(
                    "timeout",
                    f"Your code did not return within {seconds:.0f} s (an infinite loop?).",
                )

    @staticmethod
    def _death() -> str:
        return (
            "The Python process running your code stopped: a crash, a call to exit() or "
            "os._exit(), os.abort(), or running out of memory."
        )


def forbidden_defaults(root: Path) -> tuple[Path, ...]:
    """Folders a student's code must never read: solutions, hidden checks, the gradebook."""
    return (root / "source", root / "solutions", root / "autograder", root / "gradebook.db")


def _resident_mb(watcher: psutil.Process) -> float:
    try:
        return watcher.memory_info().rss / 2**20
    except psutil.Error:
        return 0.0


def _child_environment(scratch: Path) -> dict[str, str]:
    """A minimal environment: no tokens or secrets of the grading machine reach the child."""
    keep = ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "AEKIT_DATA")
    environment = {key: os.environ[key] for key in keep if key in os.environ}
    environment.update(
        HOME=str(scratch),
        TMPDIR=str(scratch),
        MPLBACKEND="Agg",
        MPLCONFIGDIR=str(scratch),
        OMP_NUM_THREADS="1",
        AEKIT_GRADING="1",
        AEKIT_FAST="1",
    )
    return environment
