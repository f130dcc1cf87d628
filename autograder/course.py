"""The course's one registry: each assignment, where its checks live, what its notebook says.

An assignment is a source notebook ``source/<name>/<name>.ipynb`` plus two modules of checks
(public ones in :mod:`aekit.checks`, hidden ones in :mod:`autograder.hidden`). Everything else
is read from the notebook's nbgrader cells, never written twice:

- an exercise is a solution code cell whose ``grade_id`` is the exercise's name, followed by
  its grade cell ``check_<name>``, whose ``points`` are the exercise's points;
- a written question is a manually graded Markdown cell; the Markdown cell before it asks it,
  its own text (in the source notebook) is the model answer.

This module does not import torch, so the command line can list the assignments at once.
:func:`problems` is what ``make check`` runs (``python -m autograder.course``): an exercise
with no checks, a check of no exercise, points that disagree between a grade cell and its
checks, and a grade cell that does not run its checks all fail loudly.
"""

import importlib
import json
import re
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parents[1]
CHECK_PREFIX = "check_"  # the grade cell of exercise ``x`` is ``check_x``
# What the sandbox's zygote imports for the children, of all a notebook imports: the public kit
# and matplotlib (torch it has; the grade cells' autograder is not on the sandbox's files).
PRELOADED = ("aekit", "matplotlib")
IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", re.MULTILINE)


@dataclass(frozen=True)
class Entry:
    """What the notebook cannot say: where the checks live and which exercises call which.

    ``pieces`` names, for each composite exercise, the exercises it calls: the grader runs the
    composite with the reference's versions of those, so one mistake costs points once.
    """

    public: str  # module of the public checks (its ``CHECKS`` list)
    hidden: str  # module of the hidden checks (its ``CHECKS`` list)
    pieces: dict[str, tuple[str, ...]] = field(default_factory=dict)


REGISTRY: dict[str, Entry] = {
    "mnist_autoencoders": Entry(
        public="aekit.checks.mnist",
        hidden="autograder.hidden.mnist",
        pieces={
            "autoencoder_forward": ("reconstruction_loss",),
            "vae_forward": ("reconstruction_loss", "reparameterize", "kl_divergence"),
        },
    ),
    "cardiac_autoencoders": Entry(
        public="aekit.checks.cardiac",
        hidden="autograder.hidden.cardiac",
        pieces={
            "ConvVAEEncoder": ("downsampling_block",),
            "ConvDecoder": ("upsampling_block",),
            "cardiac_vae_forward": (
                "to_onehot",
                "reparameterize",
                "segmentation_loss",
                "kl_divergence",
            ),
            "project_segmentation": ("to_onehot",),
        },
    ),
}


@dataclass(frozen=True)
class Question:
    """A written answer graded by hand: its id, points, question and model answer."""

    grade_id: str
    points: float
    prompt: str
    model_answer: str


@dataclass(frozen=True)
class GradeCell:
    grade_id: str
    exercise: str
    points: float
    source: str


@dataclass(frozen=True)
class Outline:
    """What a source notebook's nbgrader cells say about its assignment."""

    exercises: tuple[str, ...]  # in notebook order
    grade_cells: tuple[GradeCell, ...]
    questions: tuple[Question, ...]
    solution_cells: tuple[str, ...]  # every solution code cell's grade_id

    def points(self, exercise: str) -> float:
        return sum(cell.points for cell in self.grade_cells if cell.exercise == exercise)

    @property
    def written_points(self) -> float:
        return sum(question.points for question in self.questions)


def names() -> list[str]:
    return list(REGISTRY)


def notebook(name: str, root: Path = COURSE_ROOT) -> Path:
    return root / "source" / name / f"{name}.ipynb"


@cache
def outline(path: Path) -> Outline:
    """Read the exercises, grade cells and written questions of the notebook at ``path``."""
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    solutions, grade_cells, questions = [], [], []
    for index, cell in enumerate(cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        grade_id, source = meta.get("grade_id"), _text(cell)
        if not grade_id:
            continue
        if cell["cell_type"] == "code" and meta.get("solution"):
            solutions.append(grade_id)
        elif cell["cell_type"] == "code" and meta.get("grade"):
            exercise = grade_id.removeprefix(CHECK_PREFIX)
            grade_cells.append(GradeCell(grade_id, exercise, float(meta["points"]), source))
        elif cell["cell_type"] == "markdown" and meta.get("grade"):
            prompt = _text(cells[index - 1]) if index else ""
            questions.append(Question(grade_id, float(meta["points"]), prompt, source))
    exercises = tuple(
        exercise for exercise in solutions if f"{CHECK_PREFIX}{exercise}" in _ids(grade_cells)
    )
    return Outline(exercises, tuple(grade_cells), tuple(questions), tuple(solutions))


@cache
def notebook_imports(name: str, root: Path = COURSE_ROOT) -> tuple[str, ...]:
    """The modules of :data:`PRELOADED` packages that assignment ``name``'s source notebook
    imports, in order, once each."""
    cells = json.loads(notebook(name, root).read_text(encoding="utf-8"))["cells"]
    found = [
        module or plain
        for cell in cells
        if cell["cell_type"] == "code"
        for module, plain in IMPORT.findall(_text(cell))
    ]
    return tuple(dict.fromkeys(module for module in found if module.split(".")[0] in PRELOADED))


def _ids(grade_cells: list[GradeCell]) -> set[str]:
    return {cell.grade_id for cell in grade_cells}


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def checks(name: str) -> tuple[list, list]:
    """The public and the hidden checks of assignment ``name`` (imports torch)."""
    entry = REGISTRY[name]
    public = importlib.import_module(entry.public).CHECKS
    hidden = importlib.import_module(entry.hidden).CHECKS
    return list(public), list(hidden)


def exercise_names(name: str) -> set[str]:
    """The exercises assignment ``name``'s checks are about (no notebook needed)."""
    public, hidden = checks(name)
    return {check.exercise for check in public + hidden}


def problems(name: str, root: Path = COURSE_ROOT) -> list[str]:
    """Everything that disagrees between assignment ``name``'s notebook and its checks."""
    from aekit.checks import ASSIGNMENTS as PUBLIC

    path = notebook(name, root)
    if not path.is_file():
        return [f"{name}: no source notebook {path}"]
    found, entry = outline(path), REGISTRY[name]
    public, hidden = checks(name)
    found_problems = []
    if list(PUBLIC.get(name, [])) != public:
        found_problems.append(
            f"aekit.checks.ASSIGNMENTS[{name!r}] is not {entry.public}.CHECKS: the notebook's "
            "check() cells would not find the public checks"
        )
    for solution in found.solution_cells:
        if solution not in found.exercises:
            found_problems.append(
                f"solution cell {solution!r} has no grade cell {CHECK_PREFIX}{solution} after it"
            )
    by_exercise: dict[str, list] = {}
    for check in public + hidden:
        by_exercise.setdefault(check.exercise, []).append(check)
    for exercise in found.exercises:
        found_problems += _exercise_problems(name, exercise, found, by_exercise.get(exercise, []))
    for exercise in sorted(set(by_exercise) - set(found.exercises)):
        found_problems.append(
            f"checks of {exercise!r} in {entry.public} or {entry.hidden}, but the notebook has "
            f"no exercise {exercise!r} (a solution cell with that grade_id and a grade cell "
            f"{CHECK_PREFIX}{exercise})"
        )
    for composite, pieces in entry.pieces.items():
        for unknown in sorted({composite, *pieces} - set(found.exercises)):
            found_problems.append(f"pieces of {composite!r} name {unknown!r}, not an exercise")
    return [f"{name}: {problem}" for problem in found_problems]


def _exercise_problems(name: str, exercise: str, found: Outline, checks: list) -> list[str]:
    cell = next(cell for cell in found.grade_cells if cell.exercise == exercise)
    if not checks:
        return [f"exercise {exercise!r} has no checks: add some to the registry's modules"]
    said, points = [], sum(check.points for check in checks)
    if abs(points - cell.points) > 1e-9:
        said.append(
            f"grade cell {cell.grade_id} gives {_points(cell.points)}, its checks {points:g}"
        )
    label = f"({_points(cell.points)})"
    comment = re.search(r"\((\d+(?:\.\d+)?) points?\)", cell.source)
    if comment is None or comment.group(0) != label:
        said.append(f"grade cell {cell.grade_id} should say {label} in its first comment")
    for call in (f'check("{exercise}")', f'hidden_checks("{name}", "{exercise}")'):
        if call not in cell.source:
            said.append(f"grade cell {cell.grade_id} does not call {call}")
    return said


def _points(points: float) -> str:
    return f"{points:g} point{'' if points == 1 else 's'}"


def main() -> int:
    """``python -m autograder.course``: print every problem of every assignment; 1 if any."""
    found = []
    for name in names():
        try:
            found += problems(name)
        except Exception as error:  # noqa: BLE001 - a broken check module is one problem
            found.append(f"{name}: its checks cannot be imported: {type(error).__name__}: {error}")
    for problem in found:
        print(f"course: {problem}", file=sys.stderr)
    if not found:
        print(f"course: {len(names())} assignments, every exercise has checks and its points")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
