"""The assignments the autograder grades, built from the registry (:mod:`autograder.course`):
exercises and written questions from the source notebook, checks from their modules."""

from dataclasses import dataclass, field
from pathlib import Path

from aekit.checks.core import Check
from autograder import course
from autograder.course import COURSE_ROOT, Question

__all__ = ["ASSIGNMENTS", "COURSE_ROOT", "Assignment", "UnknownAssignment", "get_assignment"]


@dataclass(frozen=True)
class Assignment:
    """One assignment: its exercises (grade_ids, in notebook order), their checks, and the
    written questions graded by hand.

    ``pieces`` names, for each composite exercise, the exercises it calls: the grader runs
    the composite with the reference versions of those, so one mistake costs points once.
    """

    name: str
    exercises: tuple[str, ...]
    public: tuple[Check, ...]
    hidden: tuple[Check, ...]
    pieces: dict[str, tuple[str, ...]] = field(default_factory=dict)
    questions: tuple[Question, ...] = ()

    @property
    def notebook(self) -> Path:
        return course.notebook(self.name)

    @property
    def checks(self) -> list[Check]:
        """Every check, exercise by exercise: public ones first, then hidden ones."""
        ordered = []
        for exercise in self.exercises:
            ordered += [check for check in self.public + self.hidden if check.exercise == exercise]
        return ordered

    def points(self, exercise: str) -> float:
        return sum(check.points for check in self.checks if check.exercise == exercise)

    @property
    def max_score(self) -> float:
        """The points the autograder gives: every check's."""
        return sum(check.points for check in self.checks)

    @property
    def written_points(self) -> float:
        """The points of the written answers, graded by hand."""
        return sum(question.points for question in self.questions)

    @property
    def total_points(self) -> float:
        return self.max_score + self.written_points


def _build(name: str) -> Assignment:
    found = course.outline(course.notebook(name))
    public, hidden = course.checks(name)
    return Assignment(
        name=name,
        exercises=found.exercises,
        public=tuple(public),
        hidden=tuple(hidden),
        pieces=dict(course.REGISTRY[name].pieces),
        questions=found.questions,
    )


ASSIGNMENTS = tuple(course.names())  # built when asked for: a Gradescope bundle holds one
_BUILT: dict[str, Assignment] = {}


class UnknownAssignment(ValueError):
    pass


def get_assignment(name: str) -> Assignment:
    if name not in ASSIGNMENTS:
        raise UnknownAssignment(
            f"unknown assignment {name!r}; the assignments are: {', '.join(ASSIGNMENTS)}"
        )
    if name not in _BUILT:
        _BUILT[name] = _build(name)
    return _BUILT[name]
