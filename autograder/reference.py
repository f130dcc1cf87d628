"""The reference: the instructor's solutions, from the source notebook, observed under the checks.

Solutions live only in the source notebook. The grader loads it in a sandboxed child of its own
(forked from the zygote like the students' children, never shared with them), runs the probes
of the checks that compare with the reference against it, and keeps their observations. The
child stays up while a class is graded: when a student's composite exercise calls a piece
(``reparameterize`` inside ``vae_forward``), that call and its gradient are answered by this
child, relayed by the grader, so the composite is graded with correct pieces while no line of
the reference ever enters a student's process.
"""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from aekit.checks.core import Observation, ProbeAborted, explain
from aekit.runtime import GRADING_ENV
from autograder import loader
from autograder.assignments import Assignment
from autograder.sandbox import ChildLost, Limits, Sandbox, observe
from autograder.sandbox.channel import tensors_in
from autograder.sandbox.remote import TORCH_NN

PIECE_ELEMENTS = 1 << 22  # numbers in one piece request; the checks send thousands
PIECE_SECONDS = 10.0  # the reference's time on one piece request
RELOADS = 100  # reloads of the reference's child in one class (each costs a second or two)
NO_ANSWER = {"op": "raised", "message": "the reference piece did not answer"}


class ReferenceFailure(RuntimeError):
    """The source notebook cannot serve as the reference (missing, or failing its own checks)."""


class ReferenceLost(ProbeAborted):
    """The reference could not answer a piece request: the grader's failure, never a grade."""


class ReferencePieces:
    """The reference's child, answering the piece requests of students' children (thread-safe)."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self.lock = threading.Lock()

    def answer(self, message: dict) -> dict:
        """The reference's answer to a child's piece request, for that child.

        Requests are bounded (PIECE_ELEMENTS) and so is the reference's time on each
        (PIECE_SECONDS): one submission cannot hold the reference, shared by a whole class.
        """
        request = {key: message.get(key) for key in ("op", "name", "args", "kwargs", "rng")}
        if message.get("op") == "piece_vjp":
            request["grads"] = message.get("grads")
        size = sum(tensor.numel() for tensor in tensors_in((request["args"], request["kwargs"])))
        if size > PIECE_ELEMENTS:
            return {"op": "raised", "message": "inputs too large for a reference piece"}
        with self.lock:
            reply = self._ask(request)
        if not isinstance(reply, dict) or reply.get("op") != "value":
            details = reply.get("details", {}) if isinstance(reply, dict) else {}
            message = details.get("message", "") if isinstance(details, dict) else ""
            return {"op": "raised", "message": f"the reference piece failed: {message}"[:300]}
        return {"op": "value", "value": _materialize(reply.get("value")), "rng": reply.get("rng")}

    def _ask(self, request: dict) -> Any:
        """The reference child's reply; a child found dead is reloaded and asked once more.

        Never the student's loss: a reference that cannot be reloaded raises
        :class:`ReferenceLost`. A request that times out, or kills the reloaded child too, is
        this request's doing and is answered as an error.
        """
        try:
            return self._once(request)
        except ChildLost as lost:
            if lost.kind == "timeout":
                return NO_ANSWER
        try:
            return self._once(request)
        except ChildLost:
            return NO_ANSWER

    def _once(self, request: dict) -> Any:
        why = self.sandbox.begin()  # reloads a lost child
        if why is not None:
            raise ReferenceLost(f"the reference is unavailable: {why}")
        self.sandbox.deadline = min(self.sandbox.deadline, time.monotonic() + PIECE_SECONDS)
        return self.sandbox.request(request)

    def close(self) -> None:
        self.sandbox.close()


@dataclass
class Reference:
    assignment: Assignment
    observations: dict[str, Observation]  # check name -> the reference's observation
    pieces: ReferencePieces | None = None
    notebook: Path | None = None

    def observation(self, check) -> Observation | None:
        return self.observations.get(check.name)

    def close(self) -> None:
        if self.pieces is not None:
            self.pieces.close()


def load_reference(
    assignment: Assignment, notebook: Path | None = None, device: str = "cpu"
) -> Reference:
    """Observe the solutions of ``assignment`` under every check that needs the reference."""
    notebook = Path(notebook or assignment.notebook)
    if not notebook.exists():
        raise ReferenceFailure(f"the source notebook {notebook} is missing")
    try:
        cells = loader.cells_of(loader.read_document(notebook))
    except loader.NotebookError as error:
        raise ReferenceFailure(f"the source notebook cannot be read: {error}") from None
    limits = Limits(restarts=RELOADS, submission_seconds=float("inf"), load_seconds=300.0)
    sandbox = Sandbox(cells, device, limits)
    try:
        sandbox.load()
    except ChildLost as lost:
        sandbox.close()
        raise ReferenceFailure(f"{notebook.name} could not be loaded: {lost}") from None
    observations = {}
    for check in assignment.checks:
        if check.needs_reference:
            status, payload = observe(sandbox, check)
            if status != "observed":
                sandbox.close()
                raise ReferenceFailure(
                    f"the reference fails its own check {check.name!r}: "
                    f"{explain(payload, check.exercise)}"
                )
            observations[check.name] = payload
    return Reference(assignment, observations, ReferencePieces(sandbox), notebook)


class PendingReference:
    """A reference loading in a thread of its own, so that the first submission's child
    loads meanwhile (``run_autograder`` grades one): :func:`autograder.engine.grade_cells`
    waits for it once that child is up. A failure to load is raised by :meth:`result`."""

    def __init__(self, assignment: Assignment):
        self.assignment = assignment
        loading = ThreadPoolExecutor(1, thread_name_prefix="aekit-reference")
        self.future = loading.submit(load_reference, assignment)
        loading.shutdown(wait=False)  # the thread ends with its one task

    def result(self) -> Reference:
        return self.future.result()


def load_quietly(cells: list[tuple[int, str]]) -> dict[str, Any]:
    """Definitions of ``cells`` in this process, data loading and training skipped as in the
    sandbox (for the kit's tests of the public checks, which run in a student's kernel)."""
    previous = os.environ.get(GRADING_ENV)
    os.environ[GRADING_ENV] = "1"
    try:
        return loader.load(cells).namespace
    finally:
        if previous is None:
            os.environ.pop(GRADING_ENV, None)
        else:
            os.environ[GRADING_ENV] = previous


def _materialize(value: Any) -> Any:
    """A piece's answer for a student's child: tensors as they are, modules rebuilt from
    torch.nn classes only (the reference's own classes never leave its child)."""
    if isinstance(value, dict) and set(value) == {"$module_state"}:
        return _module(value["$module_state"], 0)
    if isinstance(value, tuple):
        return tuple(_materialize(item) for item in value)
    if isinstance(value, list):
        return [_materialize(item) for item in value]
    if isinstance(value, torch.Tensor) or value is None or isinstance(value, bool | int | float):
        return value
    raise TypeError(f"a reference piece answered a {type(value).__name__}")


def _module(state: dict, depth: int) -> nn.Module:
    kind = TORCH_NN.get(state.get("type"))
    if kind is None or depth > 32:
        raise TypeError(f"a reference piece returned a {state.get('type')!r}")
    module = kind.__new__(kind)
    nn.Module.__init__(module)
    for key, item in state.get("attrs", {}).items():
        object.__setattr__(module, key, item)
    for key, value in state.get("params", {}).items():
        module._parameters[key] = nn.Parameter(value)
    for key, value in state.get("buffers", {}).items():
        module._buffers[key] = value
    for key, child in state.get("children", []):
        module._modules[key] = _module(child, depth + 1)
    return module
