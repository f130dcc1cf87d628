"""The trusted side of the sandbox: start children, talk to them, bound them, kill them.

The grader never runs student code itself. It asks the zygote (:mod:`.zygote`, a fresh
interpreter inside bubblewrap that imported torch and never saw a reference or a hidden check)
to fork a child per submission, and talks to the child over a socket pair: requests go out as
trusted pickles, answers come back in the bounded format of :mod:`.channel`. Each request has
a wall-time limit (the rest of the check's time, the rest of the submission's budget); the
child's resident memory is watched; a child that hangs, crashes or grows too large is killed
and a fresh one takes over for the remaining checks.

While a request is pending the child may ask for a reference piece (composite exercises): the
parent has the reference's own child answer it, and sends the answer on.
"""

import contextlib
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from aekit.checks.core import ProbeAborted
from autograder.sandbox import channel
from autograder.sandbox.launch import (  # noqa: F401 - the sandbox's names, in one place
    WEAK_ENV,
    GradingStopped,
    IsolationUnavailable,
    Zygote,
    _environment,
    allow_zygote,
    shared_zygote,
    stop_zygote,
    weak_allowed,
)
from autograder.sandbox.limits import Limits


class ChildLost(ProbeAborted):
    """The child died, hung or used too much memory; ``kind`` and the message say which."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


# --- one child per submission ----------------------------------------------------------------------


@dataclass
class Sandbox:
    """A sandboxed child for one submission, restarted as needed.

    ``cells`` are the notebook's (cell number, source) pairs. Call :meth:`load` first, then
    :meth:`begin` before each check and :meth:`request` for its requests;
    :meth:`use_pieces` has the child call the reference's pieces for composite exercises.
    """

    cells: list[tuple[int, str]]
    device: str = "cpu"
    limits: Limits = field(default_factory=Limits)
    notes: list[str] = field(default_factory=list)
    fences: list[str] = field(default_factory=list)
    restarts: int = 0
    pieces: Any = None  # a ReferencePieces that answers piece requests

    def __post_init__(self):
        self.skip: set[tuple[int, int]] = set()
        self.piece_names: list[str] = []
        self.pid = 0
        self.process = None
        self.connection = None
        self.scratch: str | None = None
        self.started = time.monotonic()
        self.deadline = self.started + self.limits.check_seconds

    # lifecycle

    def load(self) -> None:
        """Start a child and load the notebook, skipping statements that hung before."""
        while True:
            self._spawn()
            deadline = min(time.monotonic() + self.limits.load_seconds, self._budget_end())
            request = {
                "op": "load",
                "cells": [list(cell) for cell in self.cells],
                "skip": [list(key) for key in self.skip],
                "statement_seconds": self.limits.statement_seconds,
            }
            current = None
            try:
                self._send(request)
                while True:
                    reply = self._receive(
                        min(self.limits.statement_seconds + 5, deadline - time.monotonic())
                    )
                    if reply.get("op") == "progress":
                        current = _position(reply.get("at"))
                        continue
                    self._loaded(reply)
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
            if self.piece_names:
                self._call({"op": "pieces", "names": self.piece_names}, self.limits.check_seconds)
            return

    def _loaded(self, reply: dict) -> None:
        if reply.get("op") != "loaded":
            raise ChildLost("crashed", "The sandbox answered out of turn while loading.")
        self.notes += [str(note)[:500] for note in _list(reply.get("notes"))[:200]]
        # Statements cut by the soft limit are skipped at once by later reloads.
        self.skip |= {key for key in map(_position, _list(reply.get("slow"))) if key}
        self.fences = [str(fence)[:200] for fence in _list(reply.get("fences"))[:50]]

    def _line(self, key: tuple[int, int]) -> str:
        """The source line at (cell, line), shortened, for notes."""
        source = dict(self.cells).get(key[0], "")
        lines = source.splitlines()
        text = lines[key[1] - 1].strip() if 0 < key[1] <= len(lines) else ""
        return text if len(text) <= 60 else text[:57] + "..."

    def use_pieces(self, names: list[str], pieces: Any) -> None:
        """From now on (and in every later child) the named pieces are the reference's."""
        self.piece_names, self.pieces = list(names), pieces
        if self.process is not None:
            try:
                self._call({"op": "pieces", "names": self.piece_names}, self.limits.check_seconds)
            except ChildLost:
                self._stop()

    def begin(self) -> str | None:
        """Prepare for the next check: a live child and a fresh time limit; or why not."""
        if self.over_budget():
            return (
                f"Not run: your notebook used up its {self.limits.submission_seconds:.0f} s "
                "for the whole submission."
            )
        if self.process is None:
            self.restarts += 1
            if self.restarts > self.limits.restarts:
                return "Not run: your code crashed the sandbox too often."
            try:
                self.load()
            except ChildLost as lost:
                self._stop()
                return f"Not run: reloading your notebook failed ({lost})."
        self.deadline = min(time.monotonic() + self.limits.check_seconds, self._budget_end())
        return None

    def over_budget(self) -> bool:
        return time.monotonic() >= self._budget_end()

    def _budget_end(self) -> float:
        return self.started + self.limits.submission_seconds

    def request(self, message: dict) -> Any:
        """One request of the current check, within the check's time; ChildLost otherwise."""
        seconds = self.deadline - time.monotonic()
        if seconds <= 0:
            self._stop()
            raise ChildLost("timeout", self._too_slow())
        return self._call(message, seconds)

    def close(self) -> None:
        self._stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # plumbing

    def _spawn(self) -> None:
        zygote = _shared()
        environment = _child_environment()
        if zygote.weak:  # no private /tmp of its own: a scratch folder instead
            self.scratch = tempfile.mkdtemp(prefix="aekit-sandbox-")
            environment.update(HOME=self.scratch, TMPDIR=self.scratch, MPLCONFIGDIR=self.scratch)
        config = {
            "device": self.device,
            "memory_mb": self.limits.memory_mb,
            "environment": environment,
            "debug": os.environ.get("AEKIT_SANDBOX_DEBUG") == "1",
            "weak": zygote.weak,
        }
        try:
            self.pid, self.connection = zygote.fork(config)
        except RuntimeError:  # the zygote died or lost its child: once more, with a fresh one
            self.pid, self.connection = _shared().fork(config)
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

    def _send(self, message: Any) -> None:
        try:
            self.connection.send_bytes(channel.dumps(message))
        except (OSError, ValueError):
            self._stop()
            raise ChildLost("crashed", self._death()) from None

    def _call(self, message: dict, seconds: float) -> Any:
        if self.process is None:
            raise ChildLost("crashed", self._death())
        self._send(message)
        deadline = time.monotonic() + max(seconds, 0.1)
        while True:
            reply = self._receive(deadline - time.monotonic())
            if isinstance(reply, dict) and reply.get("op") in {"piece", "piece_vjp"}:
                self._send(self._piece(reply))
                continue
            return reply

    def _piece(self, message: dict) -> dict:
        """Answer the child's request for a reference piece."""
        name = message.get("name")
        if self.pieces is None or name not in self.piece_names:
            return {"op": "raised", "message": f"{name!r} is not a piece of this exercise"}
        return self.pieces.answer(message)

    def _receive(self, seconds: float) -> Any:
        """The next message, or :class:`ChildLost` after ``seconds`` or when the child dies."""
        deadline = time.monotonic() + max(seconds, 0.1)
        while True:
            if self.connection.poll(0.05):
                try:
                    return channel.unpack(self.connection.recv_bytes(channel.MAX_MESSAGE))
                except (EOFError, OSError):
                    self._stop()
                    raise ChildLost("crashed", self._death()) from None
                except channel.TransportError as error:
                    self._stop()
                    raise ChildLost(
                        "crashed", f"The sandbox sent an unreadable answer ({error})."
                    ) from None
            if not self._alive():
                self._stop()
                raise ChildLost("crashed", self._death())
            if _resident_mb(self.process) > self.limits.memory_mb + 1024:
                self._stop()
                raise ChildLost(
                    "memory", f"Your code used more than {self.limits.memory_mb} MB of memory."
                )
            if time.monotonic() > deadline:
                self._stop()
                raise ChildLost("timeout", self._too_slow())

    def _too_slow(self) -> str:
        if self.over_budget():
            return (
                f"Your notebook used up its {self.limits.submission_seconds:.0f} s for the "
                "whole submission."
            )
        return (
            f"Your code did not return within {self.limits.check_seconds:.0f} s "
            "(an infinite loop?)."
        )

    @staticmethod
    def _death() -> str:
        return (
            "The Python process running your code stopped: a crash, a call to exit() or "
            "os._exit(), os.abort(), or running out of memory."
        )


def _shared() -> Zygote:
    try:
        return shared_zygote()
    except GradingStopped as stopped:
        raise ChildLost("crashed", str(stopped)) from None


def _position(value: Any) -> tuple[int, int] | None:
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) for v in value)
    ):
        return int(value[0]), int(value[1])
    return None


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _resident_mb(watcher: psutil.Process) -> float:
    try:
        return watcher.memory_info().rss / 2**20
    except psutil.Error:
        return 0.0


def _child_environment() -> dict[str, str]:
    return _environment((), {"AEKIT_FAST": "1"})
