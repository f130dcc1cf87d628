"""Grade one submission: load it in a sandbox, probe every check against it, judge here.

Each exercise is graded on its own. Exercises that other exercises call (the pieces) are
graded first with the student's code; the composite exercises then run with the reference's
pieces answering their calls. A check that hangs, crashes or blows the memory fails, and so do the
remaining checks of its exercise, without running; the other exercises go on.
"""

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from aekit.checks.core import Check, judge_outcome
from autograder import course, loader
from autograder.assignments import Assignment
from autograder.reference import PendingReference, Reference
from autograder.sandbox import ChildLost, Limits, Sandbox, observe
from autograder.written import Written

STOPPING = {"timeout", "memory", "crashed"}  # outcomes after which an exercise's checks stop


@dataclass(frozen=True)
class CheckResult:
    """One check's result, as results.json and the feedback report it."""

    name: str
    exercise: str
    title: str
    points: float
    passed: bool
    message: str
    hidden: bool

    @property
    def score(self) -> float:
        return self.points if self.passed else 0.0


@dataclass
class Grade:
    """Everything known about one graded submission."""

    student: str
    assignment: str
    notebook: str
    results: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fences: list[str] = field(default_factory=list)  # the sandbox's fences in force
    error: str | None = None  # why the submission could not be graded at all
    seconds: float = 0.0
    digest: str = ""
    max_score: float = 0.0
    grader_key: str = ""  # what decided the score (see autograder.batch.grader_key)
    flag: str | None = None  # graded, but a human should look (another assignment's notebook)
    written: Written | None = None  # the answers marked by hand, when this grade counts them

    @property
    def status(self) -> str:
        """``graded``, ``error: <why>`` (not gradable) or ``check: <why>`` (graded, flagged)."""
        if self.error:
            return f"error: {self.error}"[:200]
        return f"check: {self.flag}"[:200] if self.flag else "graded"

    @property
    def autograded(self) -> float:
        """The checks' points."""
        return round(sum(result.score for result in self.results), 6)

    @property
    def score(self) -> float:
        """The checks' points and the written answers' marked so far."""
        return round(self.autograded + (self.written.score if self.written else 0.0), 6)

    @property
    def possible(self) -> float:
        """What the score is out of: the checks' points, and the written answers' it counts."""
        return self.max_score + (self.written.counted if self.written else 0.0)

    def exercise_scores(self) -> dict[str, float]:
        scores: dict[str, float] = {}
        for result in self.results:
            scores[result.exercise] = scores.get(result.exercise, 0.0) + result.score
        return scores


def digest(path: Path) -> str:
    """The file's sha256, read in chunks (a huge file is refused, never loaded); "" for
    anything but a regular file, whose reading could block (a named pipe)."""
    if not path.is_file():
        return ""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def grade_notebook(
    path: Path,
    reference: Reference | PendingReference,
    student: str,
    device: str = "cpu",
    limits: Limits = Limits(),
) -> Grade:
    """Grade the notebook at ``path``; an unreadable file scores 0 with a message."""
    start = time.perf_counter()
    path = Path(path).resolve()  # the sandbox changes folder: relative paths would point elsewhere
    assignment = reference.assignment
    grade = Grade(student, assignment.name, path.name, max_score=assignment.max_score)
    try:
        grade.digest = digest(path)
        cells = loader.read_cells(path)
    except (OSError, loader.NotebookError) as error:
        grade.error = f"The submission could not be read: {error}"
        grade.results = failed_everywhere(assignment, grade.error)
    else:
        grade.flag = other_assignment(cells, assignment)
        grade.results, grade.notes, grade.fences = grade_cells(cells, reference, device, limits)
        if grade.flag:
            grade.notes.insert(0, grade.flag)
    grade.seconds = time.perf_counter() - start
    return grade


def grade_cells(
    cells: list[tuple[int, str]],
    reference: Reference | PendingReference,
    device: str = "cpu",
    limits: Limits = Limits(),
) -> tuple[list[CheckResult], list[str], list[str]]:
    """Results of every check of the assignment on these notebook cells, the loading notes
    and the fences that were in force."""
    assignment = reference.assignment
    with Sandbox(cells, device, limits) as sandbox:
        try:
            sandbox.load()
        except ChildLost as lost:
            message = f"Your notebook could not be loaded: {lost}"
            return failed_everywhere(assignment, message), sandbox.notes, sandbox.fences
        if isinstance(reference, PendingReference):  # loading beside this child, until now
            reference = reference.result()
        verdicts = {}
        composites = set(assignment.pieces)
        for phase in ("pieces", "composites"):
            if phase == "composites":
                needed = sorted(
                    {piece for pieces in assignment.pieces.values() for piece in pieces}
                )
                sandbox.use_pieces(needed, reference.pieces)
            for exercise in assignment.exercises:
                if (exercise in composites) == (phase == "composites"):
                    verdicts.update(run_exercise(sandbox, exercise, assignment, reference))
        return [verdicts[check.name] for check in assignment.checks], sandbox.notes, sandbox.fences


def run_exercise(
    sandbox: Sandbox, exercise: str, assignment: Assignment, reference: Reference
) -> dict:
    """Probe and judge the checks of one exercise, stopping after a hang or a crash."""
    results, stopped = {}, None
    for check in (check for check in assignment.checks if check.exercise == exercise):
        if stopped is not None:
            outcome = ("error", {"kind": "skipped", "message": f"Not run: {stopped}"})
        else:
            outcome = observe(sandbox, check)
            if outcome[0] == "error" and outcome[1].get("kind") in STOPPING:
                stopped = f"an earlier check of {exercise} failed with: {outcome[1].get('message')}"
        verdict = judge_outcome(check, outcome, reference.observation(check))
        results[check.name] = result_of(check, verdict.passed, verdict.message)
    return results


def other_assignment(cells: list[tuple[int, str]], assignment: Assignment) -> str | None:
    """Why this notebook looks like another assignment's (it defines none of this one's own
    exercises and most of another's), or None."""
    defined = loader.defined_names(cells)
    others = {
        name: course.exercise_names(name) for name in course.names() if name != assignment.name
    }
    own = set(assignment.exercises) - set().union(*others.values())
    if own & defined:
        return None
    for name, exercises in others.items():
        theirs = exercises - set(assignment.exercises)
        if len(theirs & defined) * 2 > len(theirs):
            return (
                f"This notebook looks like {name}, not {assignment.name}: it defines "
                f"{', '.join(sorted(theirs & defined))}. Was the right notebook submitted?"
            )
    return None


def result_of(check: Check, passed: bool, message: str) -> CheckResult:
    return CheckResult(
        check.name, check.exercise, check.title, check.points, passed, message, check.hidden
    )


def failed_everywhere(assignment: Assignment, message: str) -> list[CheckResult]:
    return [result_of(check, False, message) for check in assignment.checks]
