"""What a check is, and how one runs.

A check is split in two halves so that untrusted code never decides its own score:

- ``probe(bench)`` runs the student's code on inputs the check chose and returns plain
  observations (tensors, numbers, strings). In the autograder it runs in the sandbox.
- ``judge(seen, reference)`` compares those observations, with the reference solution's
  observations when the check needs them, and returns a :class:`Verdict` whose message
  teaches. In the autograder it runs in the trusted process.

The public checks a student calls from the notebook run both halves in the student's kernel;
the autograder runs the same classes, public and hidden, through its sandbox.
"""

import re
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from aekit.checks.compare import Verdict, fail

Observation = dict[str, Any]


class Mismatch(Exception):
    """The student's code returned something a check cannot use (wrong type or arity)."""


class Missing(Exception):
    """A name the check needs is not defined in the notebook."""


class Raised(Exception):
    """The student's code raised, in another process; ``details`` as :func:`raised` gives."""

    def __init__(self, details: dict[str, str]):
        super().__init__(details.get("message", ""))
        self.details = details


class ProbeAborted(Exception):
    """The process running the student's code is gone (a hang, a crash, the memory limit):
    :func:`run_probe` lets it through to whoever runs the probes."""


class Check:
    """One small, seeded test of one exercise.

    A check written by hand sets the attributes below on its class; a family of checks that
    differ only in their data (:mod:`aekit.checks.families`) is a dataclass whose instances
    set them. ``id`` is set by :func:`identified` from the assignment's table of checks.
    """

    # Short, unique within the assignment and never reworded: the check's identity, which
    # seeds its inputs, so a title can be reworded without changing what the check tests.
    id: str
    exercise: str
    title: str
    points: float = 0.5
    hidden: bool = False
    # The judge compares with the reference solution's observation of the same probe.
    needs_reference: bool = False

    @property
    def name(self) -> str:
        """``grade_id: what it checks``, the test name in results.json."""
        return f"{self.exercise}: {self.title}"

    @property
    def seed(self) -> int:
        """The seed of the check's inputs: from its id, never from its title."""
        return zlib.crc32(self.id.encode()) % (2**31)

    def probe(self, bench: "Bench") -> Observation:
        raise NotImplementedError

    def judge(self, seen: Observation, reference: Observation | None) -> Verdict:
        raise NotImplementedError


# A check's id: kebab-case, at most 32 characters ("kl-per-sample").
CHECK_ID = re.compile(r"(?=.{1,32}\Z)[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


def identified(*tables: Mapping[str, Check], beside: Sequence[Check] = ()) -> list[Check]:
    """The checks of ``tables`` (id -> check), each given its id, in order.

    Ids seed the inputs, so a malformed id, an id given twice in ``tables`` and ``beside`` (the
    rest of the assignment) or a check listed under two ids fails here, loudly.
    """
    taken = {check.id: check for check in beside}
    for table in tables:
        for found, check in table.items():
            if not CHECK_ID.fullmatch(found):
                raise ValueError(f"{found!r}: a check's id is kebab-case, at most 32 characters")
            if found in taken:
                raise ValueError(f"{check.name!r} and {taken[found].name!r} share the id {found!r}")
            if getattr(check, "id", found) != found:
                raise ValueError(f"{check.name!r} has the id {check.id!r}, not {found!r}")
            check.id, taken[found] = found, check
    return [check for table in tables for check in table.values()]


class Bench:
    """What a probe works with: the notebook's names, the device, and seeded inputs.

    Inputs are drawn on the CPU from a generator seeded by the check, then moved to the
    device, so they are identical on every machine and whatever the student's code consumes
    from torch's global generator.
    """

    def __init__(self, namespace: Mapping[str, Any], check: Check, device: str | torch.device):
        self.namespace = namespace
        self.check = check
        self.device = torch.device(device)
        self.generator = torch.Generator().manual_seed(check.seed)

    def get(self, name: str | None = None) -> Any:
        """The notebook's object called ``name`` (default: the exercise under test)."""
        name = name or self.check.exercise
        value = self.namespace.get(name)
        if value is None:
            raise Missing(name)
        return value

    def reseed(self, offset: int = 0) -> None:
        """Reset torch's global generator (used by the student's code) to the check's seed."""
        torch.manual_seed(self.check.seed + offset)

    def randn(self, *shape: int, dtype=torch.float32, scale: float = 1.0, shift: float = 0.0):
        values = torch.randn(*shape, generator=self.generator, dtype=torch.float64)
        return (values * scale + shift).to(dtype).to(self.device)

    def uniform(self, *shape: int, low: float = 0.0, high: float = 1.0, dtype=torch.float32):
        values = torch.rand(*shape, generator=self.generator, dtype=torch.float64)
        return (low + (high - low) * values).to(dtype).to(self.device)

    def integers(self, *shape: int, high: int):
        return torch.randint(high, shape, generator=self.generator).to(self.device)

    def fill_linear_layers(self, layers: list[nn.Linear], scale: float = 0.3) -> None:
        """Give ``layers`` seeded weights, so two implementations can be compared value by value."""
        with torch.no_grad():
            for layer in layers:
                layer.weight.copy_(self.randn(*layer.weight.shape, scale=scale))
                if layer.bias is not None:
                    layer.bias.copy_(self.randn(*layer.bias.shape, scale=scale))


def type_name(value: Any) -> str:
    """The name of the type of what the student's code returned (``numpy.ndarray``, ``list``);
    for an object that lives in the sandboxed child, its own type's, not its local stand-in's."""
    remote = getattr(value, "_aekit_type", None)
    if isinstance(remote, str) and remote:
        return remote
    kind = type(value)
    module = kind.__module__
    if module in ("builtins", "__main__", "__notebook__"):  # the notebook's own classes too
        return kind.__qualname__
    package = "nn" if module.startswith("torch.nn.") else module.split(".")[0]
    return f"{package}.{kind.__qualname__}"


def tensor(value: Any, what: str) -> torch.Tensor:
    """``value`` if it is a tensor, else a :class:`Mismatch` that says what came back."""
    if not isinstance(value, torch.Tensor):
        raise Mismatch(f"{what} should be a torch.Tensor, but it is a {type_name(value)}.")
    return value


def pair(value: Any, what: str) -> tuple[Any, Any]:
    """``value`` if it is a 2-tuple (or list), else a :class:`Mismatch`."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        kind = f"a {type_name(value)}"
        if isinstance(value, tuple | list):
            kind += f" of length {len(value)}"
        raise Mismatch(f"{what} should return a pair (two values), but it returned {kind}.")
    return value[0], value[1]


def module(value: Any, what: str) -> nn.Module:
    if not isinstance(value, nn.Module):
        raise Mismatch(f"{what} should be an nn.Module, but it is a {type_name(value)}.")
    return value


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The model's Linear layers in the order they were registered."""
    return [layer for layer in model.modules() if isinstance(layer, nn.Linear)]


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def plain(value: Any) -> Any:
    """Observations as plain data: tensors detached, on the CPU, copied; a :class:`Mismatch`
    for anything else the student's code slipped into them."""
    if isinstance(value, torch.Tensor):
        if value.device.type == "meta":  # a probe on the meta device records shapes, never this
            raise Mismatch(
                "Your result is on the meta device, not on its inputs' device: create tensors "
                "on the inputs' device (torch.zeros_like(x), device=x.device)."
            )
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise Mismatch(f"Your result holds a {type_name(value)}, which the checks cannot read.")


# What ran: ("observed", observation) or ("error", details) with details a dict of
# kind ("missing", "raised", "mismatch", "timeout", "crashed", "skipped"), type, message, where.
Outcome = tuple[str, Any]


def run_probe(check: Check, namespace: Mapping[str, Any], device="cpu") -> Outcome:
    """Run ``check.probe`` on ``namespace`` here and catch whatever the student's code does."""
    return probe_outcome(check, Bench(namespace, check, device))


def probe_outcome(check: Check, bench: "Bench") -> Outcome:
    """Run ``check.probe`` with ``bench`` (whose namespace may live in another process).

    Torch's global generator is seeded first: the randomness of the student's code (a model's
    initial weights) is then the check's own, not whatever the notebook ran before.
    """
    try:
        bench.reseed()
        return "observed", plain(check.probe(bench))
    except Missing as error:
        return "error", {"kind": "missing", "type": "NameError", "message": str(error)}
    except Mismatch as error:
        return "error", {"kind": "mismatch", "type": "Mismatch", "message": str(error)}
    except Raised as error:
        return "error", dict(error.details)
    except BaseException as error:  # the student's code may raise anything, SystemExit included
        if isinstance(error, KeyboardInterrupt | ProbeAborted):
            raise
        if isinstance(error.__context__, ProbeAborted):  # lost while a judge caught the error
            raise error.__context__ from None
        return "error", raised(error)


def raised(error: BaseException, ours: tuple[str, ...] = ()) -> dict[str, str]:
    """Details of an exception raised by the student's code, with where it happened (never in
    a file under ``ours``: the code that called theirs)."""
    found = student_frame(error, ours)
    where, function = "", ""
    if found is not None:
        code, line = found
        function, filename = code.co_qualname.rpartition("<locals>.")[2], code.co_filename
        cell = f"{filename.strip('<>')}, " if filename.startswith("<cell ") else ""
        where = f"in `{function}`, {cell}line {line}"
    return {
        "kind": "raised",
        "type": type(error).__name__,
        "family": ",".join(kind.__name__ for kind in type(error).__mro__),
        "message": " ".join(str(error).split())[:500],
        "where": where,
        "function": function,
    }


def student_frame(error: BaseException, ours: tuple[str, ...] = ()):
    """(code, line) of the innermost frame of notebook code: a ``<cell N>`` of the
    autograder's loader or, in a live kernel, the innermost frame outside the installed
    libraries, this kit and ``ours``; None when the error came from library code alone (a
    model the student built of torch's layers only)."""
    frames, tb = [], error.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame.f_code, tb.tb_lineno))
        tb = tb.tb_next
    frames.reverse()
    cells = [frame for frame in frames if frame[0].co_filename.startswith("<cell ")]
    if cells:
        return cells[0]
    library = (str(Path(torch.__file__).parents[1]), str(Path(__file__).parents[1]))
    library += (sys.prefix, sys.base_prefix, *ours)
    outside = (frame for frame in frames if not frame[0].co_filename.startswith(library))
    return next(outside, None)


def explain(details: Mapping[str, str], exercise: str) -> str:
    """A teaching message for an error outcome."""
    kind, message = details.get("kind"), details.get("message", "")
    where = f" ({details['where']})" if details.get("where") else ""
    if kind == "missing":
        return (
            f"`{message}` is not defined. Keep the name and signature from the assignment "
            "and run the cell that defines it."
        )
    if kind == "raised" and details.get("type") == "NotImplementedError" and not message:
        # the stub's bare raise; torch's own (an operation the meta device lacks) says more
        name = details.get("function") or exercise
        return f"`{name}` is not implemented yet: replace `raise NotImplementedError()` with your code."
    if kind == "raised":
        return f"Your code raised {details.get('type')}: {message}{where}"
    return f"{message}{where}"


def judge_outcome(check: Check, outcome: Outcome, reference: Observation | None) -> Verdict:
    """The verdict for one outcome; a judge that trips over odd observations fails the check."""
    status, payload = outcome
    if status != "observed":
        return fail(explain(payload, check.exercise))
    try:
        return check.judge(payload, reference)
    except Exception as error:  # noqa: BLE001 - malformed observations must not crash grading
        return fail(f"The check could not read your result ({type(error).__name__}: {error}).")


@dataclass(frozen=True)
class Result:
    check: Check
    verdict: Verdict

    @property
    def score(self) -> float:
        return self.check.points if self.verdict.passed else 0.0


def run_in_process(
    checks: list[Check],
    namespace: Mapping[str, Any],
    reference: Callable[[Check], Observation | None] = lambda check: None,
    device="cpu",
) -> list[Result]:
    """Probe and judge each check here, in this process (public checks, the reference)."""
    return [
        Result(check, judge_outcome(check, run_probe(check, namespace, device), reference(check)))
        for check in checks
    ]
