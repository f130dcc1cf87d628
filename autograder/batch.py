"""Grade a class: find the submissions, grade them in parallel, write every report.

    aekit grade ASSIGNMENT SUBMITTED_DIR --out OUT_DIR [--jobs N] [--device auto|cpu|cuda]
    aekit grade ASSIGNMENT path/to/notebook.ipynb --out OUT_DIR

``SUBMITTED_DIR`` follows nbgrader's layout (``<student>/<assignment>/*.ipynb``); a notebook
directly in ``<student>/`` and notebooks directly in ``SUBMITTED_DIR`` are accepted too. A
student already graded (same notebook, same grader) is skipped unless ``force``.
"""

import contextlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

import aekit
from autograder import report
from autograder.assignments import Assignment
from autograder.engine import Grade, digest, failed_everywhere, grade_notebook
from autograder.reference import Reference
from autograder.sandbox import Limits

IGNORED = {".ipynb_checkpoints", "__pycache__", "feedback"}
RESERVED = {"grades.csv"}  # files the grader writes into OUT: no student may be named so


@dataclass(frozen=True)
class Submission:
    """A student and their notebook, or why there is none."""

    student: str
    notebook: Path | None
    problem: str | None = None


@dataclass(frozen=True)
class Row:
    """One line of the summary table and of grades.csv."""

    student: str
    score: float
    max_score: float
    seconds: float
    status: str
    fences: tuple[str, ...] = ()


def discover(target: Path, assignment: str) -> list[Submission]:
    """The submissions under ``target`` (a notebook or a folder), sorted by student id."""
    if target.is_file():
        return [Submission(target.stem, target)]
    found = [Submission(path.stem, path) for path in sorted(target.glob("*.ipynb"))]
    for folder in sorted(
        path for path in target.iterdir() if path.is_dir() and path.name not in IGNORED
    ):
        if not folder.name.startswith("."):
            found.append(_student_notebook(folder, assignment))
    return sorted(found, key=lambda submission: submission.student)


def _student_notebook(folder: Path, assignment: str) -> Submission:
    inner = folder / assignment
    candidates = sorted(inner.glob("*.ipynb")) if inner.is_dir() else []
    candidates = candidates or sorted(folder.glob("*.ipynb"))
    if not candidates:
        return Submission(
            folder.name,
            None,
            f"No notebook (.ipynb) found in {folder.name}/ or {folder.name}/{assignment}/.",
        )
    named = [path for path in candidates if path.stem == assignment]
    return Submission(folder.name, (named or candidates)[0])


def grade_all(
    target: Path,
    out: Path,
    reference: Reference,
    jobs: int = 1,
    device: str = "cpu",
    force: bool = False,
    limits: Limits = Limits(),
    progress: bool = True,
) -> list[Row]:
    """Grade every submission under ``target`` into ``out``; return the summary rows."""
    assignment = reference.assignment
    submissions = discover(target, assignment.name)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    pending = []
    for submission in submissions:
        previous = None if force else _previous(submission, out, assignment)
        if previous is not None:
            rows.append(previous)
        else:
            pending.append(submission)

    def work(submission: Submission) -> Row:
        if submission.student in RESERVED:
            why = f"refused: the student id {submission.student!r} is the name of a grader's file"
            return Row(submission.student, 0.0, assignment.max_score, 0.0, why)
        try:
            grade = _grade(submission, reference, device, limits)
            report.write_submission(grade, out / submission.student)
        except Exception as error:  # noqa: BLE001 - one submission never stops the batch
            return _grader_error(submission, assignment, out, error)
        status = "error" if grade.error else "graded"
        fences = tuple(grade.fences)
        return Row(submission.student, grade.score, grade.max_score, grade.seconds, status, fences)

    bar = tqdm(
        total=len(pending),
        desc=f"grading {assignment.name}",
        unit="notebook",
        disable=not progress,
        file=sys.stderr,
    )
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for future in as_completed([pool.submit(work, submission) for submission in pending]):
            rows.append(future.result())
            bar.update()
    bar.close()
    rows.sort(key=lambda row: row.student)
    report.write_grades_csv(
        [(row.student, row.score, row.max_score) for row in rows], out / "grades.csv"
    )
    return rows


def _grader_error(submission: Submission, assignment: Assignment, out: Path, error) -> Row:
    """A submission the grader failed on: reported as such, never as a grade."""
    message = f"grader error: {type(error).__name__}: {error}"[:300]
    with contextlib.suppress(OSError):
        folder = out / submission.student
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "results.json").unlink(missing_ok=True)  # no stale grade survives
    return Row(submission.student, 0.0, assignment.max_score, 0.0, message)


def _grade(submission: Submission, reference: Reference, device: str, limits: Limits) -> Grade:
    if submission.notebook is None:
        assignment = reference.assignment
        grade = Grade(submission.student, assignment.name, "", max_score=assignment.max_score)
        grade.error = submission.problem
        grade.results = failed_everywhere(assignment, submission.problem or "no notebook")
        return grade
    return grade_notebook(submission.notebook, reference, submission.student, device, limits)


def _previous(submission: Submission, out: Path, assignment: Assignment) -> Row | None:
    """The earlier result of this exact notebook by this grader, if there is one."""
    path = out / submission.student / "results.json"
    if submission.notebook is None or not path.exists():
        return None
    try:
        results = json.loads(path.read_text())
        extra = results["extra_data"]
        same = (
            extra["sha256"] == digest(submission.notebook)
            and extra["assignment"] == assignment.name
            and extra["grader"] == f"aekit {aekit.__version__}"
        )
        if not same:
            return None
        return Row(
            submission.student, float(results["score"]), float(extra["max_score"]), 0.0, "kept"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def summary_table(rows: list[Row]) -> str:
    """A plain-text table: one line per student, then the class mean."""
    width = max([len("student")] + [len(row.student) for row in rows])
    lines = [f"{'student':<{width}}  {'score':>7}  {'max':>5}  {'time':>7}  status"]
    for row in rows:
        seconds = f"{row.seconds:6.1f}s" if row.status != "kept" else "      -"
        lines.append(
            f"{row.student:<{width}}  {row.score:7g}  {row.max_score:5g}  {seconds}  {row.status}"
        )
    if rows:
        mean = sum(row.score for row in rows) / len(rows)
        lines.append(f"{len(rows)} submissions, mean score {mean:.2f} / {rows[0].max_score:g}")
    return "\n".join(lines)


def elapsed_since(start: float) -> str:
    return f"{time.perf_counter() - start:.1f} s"


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device here")
    return device


def run(args) -> int:
    """``aekit grade``: grade, write reports, print the table; 0 when every submission was graded."""
    from autograder.assignments import UnknownAssignment, get_assignment
    from autograder.reference import ReferenceFailure, load_reference
    from autograder.sandbox import IsolationUnavailable, shared_zygote
    from autograder.sandbox.parent import WEAK_ENV

    start = time.perf_counter()
    target, out = Path(args.submitted), Path(args.out)
    if args.weak_isolation:
        os.environ[WEAK_ENV] = "1"
    try:
        assignment = get_assignment(args.assignment)
        if not target.exists():
            raise ValueError(f"{target} does not exist")
        device = resolve_device(args.device)
        shared_zygote()  # a fresh interpreter, started before the reference is in memory
        reference = load_reference(assignment)
    except (UnknownAssignment, ValueError, ReferenceFailure, IsolationUnavailable) as error:
        print(f"aekit grade: {error}", file=sys.stderr)
        return 2
    if target.is_dir() and out.resolve().is_relative_to(target.resolve()):
        print(
            f"aekit grade: --out {out} is inside {target}: its reports would be graded as submissions",
            file=sys.stderr,
        )
        return 2
    limits = Limits(check_seconds=args.timeout, submission_seconds=args.budget)
    rows = grade_all(
        target, out, reference, args.jobs, device, args.force, limits, progress=not args.quiet
    )
    print(summary_table(rows))
    fences = sorted({fence for row in rows for fence in row.fences})
    if fences:
        print(f"sandbox: {'; '.join(fences)}")
    print(
        f"graded on {device} in {elapsed_since(start)}; feedback in {out}/<student>/feedback.html, grades in {out / 'grades.csv'}"
    )
    return 0
