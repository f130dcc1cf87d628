"""The reference: the instructor's solutions, from ``source/``, observed under the checks.

Solutions live only in the source notebook. The grader loads it in a child process of its
own (forked from the zygote, like the students' but never shared with them), runs there the
probes of the checks that compare with the reference, and keeps only their observations: the
grading process itself never executes notebook code, which keeps it small. Composite
exercises are graded with the reference versions of the pieces they call; those pieces travel
to the student's sandbox as source text, after the pieces themselves have been graded.
"""

import ast
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aekit.checks.core import Observation, explain
from aekit.runtime import GRADING_ENV
from autograder import loader
from autograder.assignments import Assignment
from autograder.sandbox import ChildLost, Limits, Sandbox


class ReferenceError(RuntimeError):
    """The source notebook cannot serve as the reference (missing, or failing its own checks)."""


@dataclass(frozen=True)
class Reference:
    assignment: Assignment
    imports: str  # the source notebook's import statements, to run before injected pieces
    sources: dict[str, str]  # grade_id -> the solution cell's source
    observations: dict[str, Observation]  # check name -> the reference's observation

    def observation(self, check) -> Observation | None:
        return self.observations.get(check.name)


def load_reference(
    assignment: Assignment, notebook: Path | None = None, device: str = "cpu"
) -> Reference:
    """Observe the solutions of ``assignment`` under every check that needs the reference."""
    notebook = Path(notebook or assignment.notebook)
    if not notebook.exists():
        raise ReferenceError(f"the source notebook {notebook} is missing")
    document = loader.read_document(notebook)
    cells = loader.cells_of(document)
    observations = {}
    with Sandbox(assignment.name, cells, device, Limits(restarts=0)) as sandbox:
        try:
            sandbox.load()
        except ChildLost as lost:
            raise ReferenceError(f"{notebook.name} could not be loaded: {lost}") from None
        for check in assignment.checks:
            if check.needs_reference:
                status, payload = sandbox.run(check.name)
                if status != "observed":
                    raise ReferenceError(
                        f"the reference fails its own check {check.name!r}: {explain(payload, check.exercise)}"
                    )
                observations[check.name] = payload
    return Reference(assignment, import_lines(cells), solution_sources(document), observations)


def load_quietly(cells: list[tuple[int, str]]) -> dict[str, Any]:
    """Definitions of ``cells``, with data loading and training skipped as in the sandbox."""
    previous = os.environ.get(GRADING_ENV)
    os.environ[GRADING_ENV] = "1"
    try:
        return loader.load(cells).namespace
    finally:
        if previous is None:
            os.environ.pop(GRADING_ENV, None)
        else:
            os.environ[GRADING_ENV] = previous


def import_lines(cells: list[tuple[int, str]]) -> str:
    """Every top-level import of the notebook, except the autograder's own."""
    lines = []
    for _, source in cells:
        try:
            tree = ast.parse(loader.strip_magics(source))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom) and "autograder" not in ast.unparse(
                node
            ):
                lines.append(ast.unparse(node))
    return "\n".join(dict.fromkeys(lines))


def solution_sources(document: dict) -> dict[str, str]:
    """grade_id -> source of each nbgrader solution code cell."""
    sources = {}
    for cell in document.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("solution") and meta.get("grade_id"):
            source = cell.get("source", "")
            sources[meta["grade_id"]] = "".join(source) if isinstance(source, list) else source
    return sources
