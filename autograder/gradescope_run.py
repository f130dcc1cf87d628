"""Grade one Gradescope submission: what the bundle's ``run_autograder`` runs.

    python -m autograder.gradescope_run ASSIGNMENT

Gradescope puts the student's files in ``$AUTOGRADER_ROOT/submission/`` (default
``/autograder``). This grades the one notebook found there, whatever its name, with the same
engine as ``aekit grade``, and writes ``$AUTOGRADER_ROOT/results/results.json``. It always
writes that file: a missing, unreadable or ambiguous submission scores 0 with a message
saying why, and so does a failure of the grader itself, whose traceback goes to stdout (which
Gradescope shows to instructors only).

Gradescope's container has about 768 MB of memory and half a CPU, hence the limits below
(``AEKIT_MEMORY_MB``, ``AEKIT_CHECK_SECONDS``, ``AEKIT_BUDGET_SECONDS`` override them).
"""

import contextlib
import gc
import json
import os
import sys
import time
import traceback
from pathlib import Path

from autograder.discovery import linked_elsewhere
from autograder.output import write_json

ROOT_ENV = "AUTOGRADER_ROOT"
HIDDEN_ENV = "AEKIT_HIDDEN_CHECKS"  # Gradescope visibility of the hidden checks (run_autograder)
DEFAULT_ROOT = "/autograder"
MEMORY_MB = 384  # new memory a sandboxed child may map; the grader and the zygote need the rest
CHECK_SECONDS = 60.0  # per check: half a CPU runs about twice as slow as a laptop core
BUDGET_SECONDS = 600.0  # the whole submission; Gradescope's own limit is 40 minutes
MAX_NOTEBOOK_BYTES = 30 << 20
IGNORED = {".ipynb_checkpoints", "__MACOSX"}


class SubmissionProblem(Exception):
    """The submission cannot be graded; the message tells the student what to do."""


def autograder_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def find_notebook(submission: Path, assignment: str) -> Path:
    """The one notebook in ``submission`` (searched recursively), or :class:`SubmissionProblem`.

    Several notebooks are fine when exactly one is named ``<assignment>.ipynb``.
    """
    if not submission.is_dir():
        raise SubmissionProblem("No files were submitted. Upload your notebook (.ipynb).")
    found = sorted(
        path
        for path in submission.rglob("*.ipynb")
        if path.is_file()
        and not IGNORED & set(path.relative_to(submission).parts)
        and not any(part.startswith(".") for part in path.relative_to(submission).parts)
    )
    if not found:
        names = sorted(path.name for path in submission.rglob("*") if path.is_file())[:5]
        seen = f" (found: {', '.join(names)})" if names else ""
        raise SubmissionProblem(
            f"No notebook (.ipynb) in your submission{seen}. Upload your {assignment}.ipynb."
        )
    named = [path for path in found if path.name == f"{assignment}.ipynb"]
    if len(found) > 1 and len(named) != 1:
        listed = ", ".join(str(path.relative_to(submission)) for path in found[:5])
        raise SubmissionProblem(
            f"Your submission holds {len(found)} notebooks ({listed}); upload only one, "
            f"your {assignment}.ipynb."
        )
    notebook = (named or found)[0]
    if linked_elsewhere(notebook, submission):  # a repository can hold a link to the bundle's
        raise SubmissionProblem(
            f"{notebook.relative_to(submission)} is a symbolic link: upload the notebook itself."
        )
    if notebook.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise SubmissionProblem(
            f"{notebook.name} is larger than {MAX_NOTEBOOK_BYTES >> 20} MB: clear its outputs "
            "(Kernel > Restart & Clear Output), save it and upload it again."
        )
    return notebook


def student_id(root: Path, notebook: Path | None) -> str:
    """Gradescope's submission id when its metadata says, else the notebook's name."""
    try:
        metadata = json.loads((root / "submission_metadata.json").read_text())
        return f"submission-{metadata['id']}"
    except (OSError, ValueError, KeyError, TypeError):
        return notebook.stem if notebook is not None else "submission"


def limits():
    from autograder.sandbox import Limits

    return Limits(
        check_seconds=_setting("AEKIT_CHECK_SECONDS", CHECK_SECONDS, 0.1),
        submission_seconds=_setting("AEKIT_BUDGET_SECONDS", BUDGET_SECONDS, 1),
        memory_mb=int(_setting("AEKIT_MEMORY_MB", MEMORY_MB, 64)),
    )


def _setting(name: str, default: float, low: float) -> float:
    """An override from the environment, or ValueError naming it: a limit of 0 or less would
    fail every check, silently."""
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None
    if value < low:
        raise ValueError(f"{name}={text} must be at least {low:g}")
    return value


def grade(root: Path, name: str) -> dict:
    """Gradescope's results for the submission under ``root``."""
    from autograder import loader, report
    from autograder.assignments import get_assignment
    from autograder.engine import grade_notebook
    from autograder.reference import PendingReference
    from autograder.sandbox import shared_zygote

    assignment = get_assignment(name)
    try:
        notebook = find_notebook(root / "submission", name)
        loader.read_cells(notebook)  # an unreadable file is reported at once, nothing started
    except SubmissionProblem as problem:
        return not_graded(root, assignment, str(problem))
    except loader.NotebookError as error:
        return not_graded(root, assignment, f"The submission could not be read: {error}")
    shared_zygote(name)  # started by main() already, unless that failed
    gc.freeze()  # what is imported lives all run: no collection need walk torch's heap again
    reference = PendingReference(assignment)  # loads while the submission's child does
    result = grade_notebook(notebook, reference, student_id(root, notebook), "cpu", limits())
    result.written = marked_on_gradescope(assignment)
    return report.results_json(result, hidden_checks())


def hidden_checks() -> str:
    """The hidden checks' visibility on Gradescope (the bundle's setting, else visible)."""
    from autograder.report import VISIBILITIES

    chosen = os.environ.get(HIDDEN_ENV) or "visible"
    return chosen if chosen in VISIBILITIES else "hidden"  # unknown: the safe side


def marked_on_gradescope(assignment):
    """The written answers are Gradescope's manually graded questions: stated, not counted."""
    from autograder.written import Written

    return (
        Written(assignment.written_points, elsewhere="Gradescope") if assignment.questions else None
    )


def not_graded(root: Path, assignment, problem: str) -> dict:
    """Score 0 on every check, with ``problem`` as the message."""
    from autograder import report
    from autograder.engine import Grade, failed_everywhere

    grade = Grade(student_id(root, None), assignment.name, "", max_score=assignment.max_score)
    grade.error = problem
    grade.results = failed_everywhere(assignment, problem)
    grade.written = marked_on_gradescope(assignment)
    return report.results_json(grade, hidden_checks())


def failure(name: str, seconds: float) -> dict:
    """Results for a submission the grader failed on (the grader's fault, not the student's)."""
    message = (
        "The autograder failed while grading your submission; this is not your fault. "
        "Your instructor can see what went wrong: please tell them."
    )
    results = {
        "score": 0.0,
        "execution_time": round(seconds, 3),
        "output": f"{name}: not graded.\n{message}",
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
    }
    try:
        from autograder.assignments import get_assignment

        checks = get_assignment(name).checks
    except Exception:  # noqa: BLE001 - the listing is a courtesy; the message is what matters
        checks = []
    for number, check in enumerate(checks, start=1):
        results["tests"].append(
            {
                "name": check.name,
                "number": str(number),
                "score": 0.0,
                "max_score": check.points,
                "status": "failed",
                "output": message,
                "visibility": "visible",
            }
        )
    return results


def write_results(root: Path, results: dict) -> Path:
    folder = root / "results"
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "results.json", results)
    return folder / "results.json"


def main(argv: list[str] | None = None) -> int:
    """Grade and write results.json; exit 0 whenever results.json was written."""
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1 or arguments[0].startswith("-"):
        print("usage: python -m autograder.gradescope_run ASSIGNMENT", file=sys.stderr)
        return 2
    name, root, start = arguments[0], autograder_root(), time.perf_counter()
    with contextlib.suppress(Exception):  # early, its imports beside ours; grade() reports
        from autograder.sandbox.launch import shared_zygote

        shared_zygote(name)  # importing only what this assignment's notebooks import
    try:
        results = grade(root, name)
    except BaseException:  # noqa: BLE001 - whatever happens, the student gets a results.json
        print(f"aekit: grading {name} failed:", flush=True)
        traceback.print_exc(file=sys.stdout)
        results = failure(name, time.perf_counter() - start)
    path = write_results(root, results)
    seconds = time.perf_counter() - start
    print(f"{name}: {results['score']:g} points in {seconds:.1f} s -> {path}")
    print(f"graded by {Path(__file__).parent}")
    return 0


if __name__ == "__main__":
    from aekit.cli import exit_without_teardown

    exit_without_teardown(main())  # results.json is written whole by now
