"""Families of checks: one probe and one judge, written once, for checks that differ only in
their data (which exercise, which inputs, which shape, which message).

A member of a family is an instance, listed by its id with the assignment's other checks::

    "kl-per-sample": PerSample(exercise="kl_divergence", inputs=..., count=5, what=...),

The families here serve the public checks of both assignments and some hidden ones (a
member's ``hidden`` says which); the families of hidden checks only are in
:mod:`autograder.hidden.families`.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from aekit.checks.compare import PASS, Verdict, expect_close, expect_shape, fail
from aekit.checks.core import Bench, Check, module, pair, tensor
from aekit.checks.fixtures import run_on_meta

# A family's members are dataclasses, compared by identity like any other check.
family = dataclass(kw_only=True, eq=False)


@family
class PerSample(Check):
    """The exercise returns one value per sample: shape (N,), nothing reduced over the batch."""

    exercise: str
    inputs: Callable[[Bench], tuple]  # the arguments: a batch of ``count`` samples
    count: int
    what: str  # the subject of the message: "For 4 images the loss"
    result: str = "the loss"
    title: str = "returns one value per sample, shape (N,)"

    def probe(self, bench: Bench) -> dict:
        value = tensor(bench.get()(*self.inputs(bench)), self.result)
        return {"shape": list(value.shape)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return expect_shape(torch.empty(seen["shape"]), (self.count,), self.what)


@family
class KnownValue(Check):
    """The exercise on inputs whose answer is known in closed form; the answers of typical
    mistakes (``mistakes``) are named when the result is one of them."""

    exercise: str
    title: str
    inputs: Callable[[Bench], tuple]
    expected: torch.Tensor
    what: str
    result: str
    mistakes: Sequence[tuple[torch.Tensor, str]] = ()
    otherwise: str = ""
    # Held to the tolerance of the dtype the code produced (a float32 Dice is as right as a
    # float64 one), compared in float64.
    own_dtype: bool = False

    def probe(self, bench: Bench) -> dict:
        return {"value": tensor(bench.get()(*self.inputs(bench)), self.result)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        value, dtype = seen["value"], None
        if self.own_dtype:
            value, dtype = value.to(torch.float64), value.dtype
        return expect_close(value, self.expected, self.what, self.mistakes, self.otherwise, dtype)


def device_verdict(report: dict, what: str, dtype: str | None = None) -> Verdict:
    """A :func:`run_on_meta` report says the result stayed on its inputs' device (and dtype)."""
    if report["device"] != report["inputs"]:
        return fail(
            f"{what} is on {report['device']} while its inputs are on {report['inputs']}: create "
            "new tensors on the inputs' device (torch.zeros_like, device=x.device), never on a "
            "device of your own."
        )
    if dtype is not None and report["dtype"] != dtype:
        return fail(f"{what} is {report['dtype']}, expected {dtype}.")
    return PASS


@family
class KeepsDevice(Check):
    """The exercise, run on the meta device (where a tensor made on the CPU shows), gives a
    result of ``shape`` on its inputs' device: so it runs on a GPU too."""

    exercise: str
    inputs: Callable[[Bench, torch.device], tuple]  # the arguments, on the given device
    shape: tuple[int, ...]
    wrong_shape: str  # the message for another shape, with {found}
    result: str  # what the result is called in a Mismatch: "the one-hot maps"
    subject: str  # ... and in the verdict: "The one-hot tensor"
    dtype: str | None = None
    call: Callable | None = None  # what runs on the inputs (default: the exercise)
    title: str = "runs on whatever device its input is on"
    hidden: bool = False

    def probe(self, bench: Bench) -> dict:
        function, inputs = self.call or bench.get(), self.inputs
        return run_on_meta(function, lambda device: inputs(bench, device), self.result)

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] != list(self.shape):
            return fail(self.wrong_shape.format(found=tuple(seen["shape"])))
        return device_verdict(seen, self.subject, self.dtype)


def shares_one_head(encoder: Any) -> bool:
    """Whether the encoder's mu_head and logvar_head are one and the same layer (not when
    either is missing: the stand-ins 1 and 2 differ)."""
    return getattr(encoder, "mu_head", 1) is getattr(encoder, "logvar_head", 2)


@family
class TwoHeads(Check):
    """The encoder built with ``arguments`` returns (mu, logvar) of ``shape``, two different
    tensors (two heads)."""

    exercise: str
    title: str
    arguments: dict[str, Any]
    built: str  # the constructor call, for a Mismatch: "VAEEncoder()"
    inputs: Callable[[Bench], torch.Tensor]
    shape: tuple[int, int]
    wrong_shape: str  # the message for another shape, with {name} and {found}

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(**self.arguments), self.built).to(bench.device)
        x = self.inputs(bench)
        with torch.no_grad():
            mu, logvar = pair(encoder(x), f"{self.exercise}.forward")
        mu, logvar = tensor(mu, "mu"), tensor(logvar, "logvar")
        return {
            "mu": list(mu.shape),
            "logvar": list(logvar.shape),
            "same": bool(torch.equal(mu, logvar)),
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for name in ("mu", "logvar"):
            if seen[name] != list(self.shape):
                return fail(self.wrong_shape.format(name=name, found=tuple(seen[name])))
        if seen["same"]:
            return fail("mu and logvar are identical: compute each with its own head.")
        return PASS
