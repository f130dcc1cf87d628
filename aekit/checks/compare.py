"""Tolerances, and comparisons whose failure names the likely mistake.

Every numeric check in the kit compares through :func:`expect_close`, so the tolerances live
here and nowhere else. They are generous enough for CPU/GPU differences (TF32 is switched off
for checks on a GPU) and tight enough to catch a missing factor of 0.5.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

# dtype -> (relative, absolute) tolerance.
TOLERANCES = {
    torch.float64: (1e-6, 1e-8),
    torch.float32: (1e-4, 1e-5),
}
# A statistic over many samples must fall within this many standard errors.
STATISTICAL_Z = 6.0


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: passed or not, and a message for the student."""

    passed: bool
    message: str = ""


PASS = Verdict(True)


def fail(message: str) -> Verdict:
    return Verdict(False, message)


def tolerance(dtype: torch.dtype) -> tuple[float, float]:
    return TOLERANCES.get(dtype, TOLERANCES[torch.float32])


def is_close(
    actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype | None = None
) -> bool:
    """Elementwise closeness under the kit's tolerance for ``dtype`` (default: the looser of
    the two tensors' dtypes: a float32 result is never held to float64's tolerance). NaN and
    infinity are never close to anything."""
    if actual.shape != expected.shape:
        return False
    rtol, atol = tolerance(dtype) if dtype else max(map(tolerance, (actual.dtype, expected.dtype)))
    actual, expected = actual.to(torch.float64), expected.to(torch.float64)
    if not bool(torch.isfinite(actual).all()):
        return False
    return bool(torch.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=False))


def describe(tensor: torch.Tensor, limit: int = 4, digits: int = 4) -> str:
    """A short human view of a tensor: its shape and its first few values."""
    flat = tensor.detach().reshape(-1)[:limit].tolist()
    values = ", ".join(f"{v:.{digits}g}" if isinstance(v, float) else str(v) for v in flat)
    more = ", …" if tensor.numel() > limit else ""
    return f"shape {tuple(tensor.shape)} [{values}{more}]"


def expect_close(
    actual: torch.Tensor,
    expected: torch.Tensor,
    what: str,
    mistakes: Sequence[tuple[torch.Tensor, str]] = (),
    otherwise: str = "",
    dtype: torch.dtype | None = None,
) -> Verdict:
    """Pass when ``actual`` matches ``expected``.

    Otherwise say what differs; when ``actual`` matches one of the ``mistakes`` (a wrong
    answer the judge computed, such as the value without the factor 0.5), say that mistake.
    """
    if not isinstance(actual, torch.Tensor):
        return fail(f"{what}: expected a tensor, got {type(actual).__name__}.")
    if actual.shape != expected.shape:
        return fail(
            f"{what} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}. "
            + shape_hint(actual.shape, expected.shape)
        )
    if is_close(actual, expected, dtype):
        return PASS
    if not torch.isfinite(actual.to(torch.float64)).all():
        return fail(f"{what} contains NaN or infinity: {describe(actual)}. {otherwise}".strip())
    for wrong, message in mistakes:
        if wrong.numel() == actual.numel() and is_close(actual, wrong.reshape(actual.shape), dtype):
            return fail(f"{what} is {describe(actual)}, expected {describe(expected)}: {message}")
    wanted, got = describe(expected), describe(actual)
    if wanted == got:  # alike to 4 digits: show the digits where they differ
        wanted, got = describe(expected, digits=8), describe(actual, digits=8)
    found = f"{what} differs: expected {wanted}, got {got}."
    if actual.dtype in (torch.float16, torch.bfloat16):
        kind = str(actual.dtype).removeprefix("torch.")
        found += f" It is {kind}, which keeps too few digits: keep the inputs' dtype."
    return fail(f"{found} {otherwise}".strip())


def expect_all_close(
    seen: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Tensor],
    whats: Mapping[str, str],
    mistakes: Sequence[tuple[torch.Tensor, str]] = (),
    otherwise: str | Mapping[str, str] = "",
) -> Verdict:
    """:func:`expect_close` of ``seen[key]`` with ``expected[key]`` for each key of ``whats``,
    in order, ``whats[key]`` naming it: the first failure, or PASS. ``otherwise`` may be given
    per key."""
    for key, what in whats.items():
        advice = otherwise if isinstance(otherwise, str) else otherwise[key]
        verdict = expect_close(seen[key], expected[key], what, mistakes, advice)
        if not verdict.passed:
            return verdict
    return PASS


def shape_hint(actual: Sequence[int], expected: Sequence[int]) -> str:
    """One sentence on the usual reason for a shape mismatch (a lost or extra reduction)."""
    actual, expected = tuple(actual), tuple(expected)
    if actual == ():
        return "You reduced to a single number: keep one value per sample (no mean or sum over the batch)."
    if len(actual) > len(expected):
        return "A reduction is missing: sum over the dimensions the docstring names."
    if len(actual) < len(expected):
        return "You reduced over a dimension that must be kept."
    return "Check the reshape / view of the output."


def expect_shape(value: torch.Tensor, shape: Sequence[int], what: str) -> Verdict:
    if not isinstance(value, torch.Tensor):
        return fail(f"{what}: expected a tensor, got {type(value).__name__}.")
    if tuple(value.shape) != tuple(shape):
        return fail(
            f"{what} has shape {tuple(value.shape)}, expected {tuple(shape)}. "
            + shape_hint(value.shape, shape)
        )
    return PASS


def first_failure(*verdicts: Verdict) -> Verdict:
    """The first failing verdict, or PASS: lets a judge read as a list of expectations."""
    return next((verdict for verdict in verdicts if not verdict.passed), PASS)
