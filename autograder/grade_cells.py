"""The hidden half of the notebooks' grade cells, for nbgrader's autograde.

Each grade cell ends with::

    ### BEGIN HIDDEN TESTS
    from autograder.grade_cells import hidden_checks
    hidden_checks("mnist_autoencoders", "kl_divergence")
    ### END HIDDEN TESTS

``hidden_checks`` grades the notebook being executed with the same engine as ``aekit grade``
(the notebook file in the kernel's working folder, sandboxed), once per kernel, and returns
the exercise's points. nbgrader reads a grade cell's numeric result as partial credit, so
nbgrader and ``aekit grade`` give the same points per exercise. It never raises and never
writes to stderr: either would zero the cell.

Note that nbgrader runs the student's code in the kernel that runs this hook; against
deliberate tampering, grade with ``aekit grade``, whose judge runs outside the student's reach.
"""

import contextlib
import io
import warnings
from pathlib import Path

from autograder.engine import Grade

_graded: dict[tuple, Grade] = {}


def hidden_checks(assignment: str, exercise: str, folder: Path | str = ".") -> float:
    """Grade ``exercise`` of the notebook in ``folder``, print its checks, return its points."""
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            grade = _grade(assignment, Path(folder))
    except Exception as error:  # noqa: BLE001 - a grade cell must print, not raise
        print(f"The autograder could not grade {exercise}: {type(error).__name__}: {error}")
        return 0.0
    results = [result for result in grade.results if result.exercise == exercise]
    score = sum(result.score for result in results)
    print(
        f"{exercise}: {score:g} / {sum(result.points for result in results):g} points (autograder)"
    )
    for result in results:
        print(f"  {'✓' if result.passed else '✗'} {result.title}")
        if not result.passed:
            print(f"      {result.message}")
    return round(score, 6)


def notebook_in(folder: Path, assignment: str) -> Path:
    """The notebook to grade: ``<assignment>.ipynb`` if present, else the only notebook."""
    named = folder / f"{assignment}.ipynb"
    if named.exists():
        return named
    notebooks = sorted(folder.glob("*.ipynb"))
    if len(notebooks) != 1:
        raise FileNotFoundError(
            f"expected one notebook in {folder.resolve()}, found {len(notebooks)}"
        )
    return notebooks[0]


def _grade(assignment: str, folder: Path) -> Grade:
    from autograder.assignments import get_assignment
    from autograder.engine import grade_notebook
    from autograder.reference import load_reference
    from autograder.sandbox import shared_zygote

    path = notebook_in(folder, assignment)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, assignment)
    if key not in _graded:
        shared_zygote()
        reference = load_reference(get_assignment(assignment))
        _graded[key] = grade_notebook(path, reference, student=path.stem)
    return _graded[key]
