"""Public checks: instant feedback on an exercise, from a notebook cell.

    from aekit.checks import check
    check("kl_divergence")

runs the public checks of ``kl_divergence`` against the notebook's own definitions and prints
one line per check, once (the cell shows nothing else). A failure does not stop the notebook,
so Run All on a half-finished notebook shows every exercise's feedback; only while nbgrader
validates does a failure fail the cell, so Validate still refuses an unfinished exercise.
While nbgrader autogrades, the grade cell's hidden part decides.
"""

import difflib
import os
import sys
from collections.abc import Mapping
from typing import Any

from aekit.checks import cardiac, mnist
from aekit.checks.core import Check, Result, run_in_process

ASSIGNMENTS: dict[str, list[Check]] = {
    "mnist_autoencoders": mnist.CHECKS,
    "cardiac_autoencoders": cardiac.CHECKS,
}


class UnknownExercise(ValueError):
    """Raised by :func:`check` for a name that is no exercise; shown without a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"UnknownExercise: {self}"]


class ChecksFailed(AssertionError):
    """Raised by :func:`check` when a public check fails; shown without a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"ChecksFailed: {self}"]


def public_checks(exercise: str, assignment: str | None = None) -> list[Check]:
    """The public checks of ``exercise`` (in ``assignment``, or the first that has it)."""
    names = [assignment] if assignment else list(ASSIGNMENTS)
    for name in names:
        found = [check for check in ASSIGNMENTS[name] if check.exercise == exercise]
        if found:
            return found
    known = sorted({check.exercise for checks in ASSIGNMENTS.values() for check in checks})
    close = difflib.get_close_matches(exercise, known, n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    raise UnknownExercise(
        f"no exercise called {exercise!r}: {guess}the exercises are {', '.join(known)}"
    )


def check(
    exercise: str, namespace: Mapping[str, Any] | None = None, device: str = "cpu"
) -> "Results":
    """Run the public checks of ``exercise`` on the caller's definitions and print the results;
    raise :class:`ChecksFailed` on a failure only while nbgrader validates."""
    namespace = namespace if namespace is not None else sys._getframe(1).f_globals
    results = Results(run_in_process(public_checks(exercise), namespace, device=device))
    print(render(exercise, results))
    failed = [result for result in results if not result.verdict.passed]
    if failed and os.environ.get("NBGRADER_EXECUTION") == "validate":
        raise ChecksFailed(
            f"{len(failed)} of {len(results)} public checks of {exercise} failed (see above)."
        )
    return results


class Results(list):
    """The results :func:`check` returns; a notebook cell shows nothing more for them, since
    check() printed the checklist already."""

    def _ipython_display_(self) -> None:
        pass


def render(exercise: str, results: list[Result]) -> str:
    """One line per check, with the teaching message under each failure."""
    passed = sum(result.verdict.passed for result in results)
    lines = [f"{exercise}: {passed} of {len(results)} public checks passed"]
    for result in results:
        mark = "✓" if result.verdict.passed else "✗"
        lines.append(f"  {mark} {result.check.title}")
        if not result.verdict.passed:
            lines.append(f"      {result.verdict.message}")
    if passed == len(results):
        lines.append("  The autograder runs more checks (hidden ones) when you submit.")
    else:
        lines.append("  Fix what is marked ✗, run the exercise's cell again, then this one.")
    return "\n".join(lines)
