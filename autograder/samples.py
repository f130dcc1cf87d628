"""Sample submissions built from the committed notebooks: for the demo and the grader's tests.

A perfect student is ``solutions/`` (solutions in, hidden tests out), an untouched one is
``release/``; others are made by editing one solution cell, so no solution is written twice.
"""

import copy
import json
from pathlib import Path

from autograder.assignments import COURSE_ROOT

# Typical mistakes a student makes, per assignment: (exercise, text of the solution, replacement).
TYPICAL_MISTAKES = {
    "mnist_autoencoders": [
        (
            "make_decoder",
            "nn.Linear(128, out_features),\n        nn.Sigmoid(),",
            "nn.Linear(128, out_features),",
        ),
        ("reparameterize", "torch.exp(0.5 * logvar)", "torch.exp(logvar)"),
        ("kl_divergence", "return -0.5 *", "return 0.5 *"),
    ],
    "cardiac_autoencoders": [
        (
            "ConvDecoder",
            "return self.head(self.blocks(start))",
            "return self.head(self.blocks(start)).softmax(dim=1)",
        ),
        (
            "dice_score",
            "dice = 2 * overlap / sizes.clamp(min=1)",
            "dice = overlap / (sizes - overlap).clamp(min=1)",
        ),
        (
            "project_segmentation",
            "return decoder(mu).argmax(dim=1)",
            "return decoder(mu).argmax(dim=-1)",
        ),
    ],
}


def load(kind: str, assignment: str, root: Path = COURSE_ROOT) -> dict:
    """The ``release`` or ``solutions`` notebook of ``assignment`` as a document."""
    return json.loads((root / kind / assignment / f"{assignment}.ipynb").read_text())


def grade_id(cell: dict) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


def replace(notebook: dict, cell_id: str, source: str) -> dict:
    """A copy of ``notebook`` whose cell ``cell_id`` (a grade_id) holds ``source``."""
    notebook = copy.deepcopy(notebook)
    cell = next(cell for cell in notebook["cells"] if grade_id(cell) == cell_id)
    cell["source"] = source.strip("\n")
    return notebook


def edit(notebook: dict, cell_id: str, old: str, new: str) -> dict:
    """A copy of ``notebook`` with ``old`` replaced by ``new`` in cell ``cell_id``."""
    cell = next(cell for cell in notebook["cells"] if grade_id(cell) == cell_id)
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    if old not in source:
        raise ValueError(f"{old!r} is not in cell {cell_id}")
    return replace(notebook, cell_id, source.replace(old, new))


def insert_after(notebook: dict, cell_id: str, source: str) -> dict:
    """A copy with a new code cell holding ``source`` after cell ``cell_id``."""
    notebook = copy.deepcopy(notebook)
    index = next(i for i, cell in enumerate(notebook["cells"]) if grade_id(cell) == cell_id)
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": source.strip("\n"),
    }
    cell["id"] = f"student-{index}"
    notebook["cells"].insert(index + 1, cell)
    return notebook


def with_mistakes(assignment: str, root: Path = COURSE_ROOT) -> dict:
    """The solution with every typical mistake of ``assignment`` in it."""
    notebook = load("solutions", assignment, root)
    for exercise, old, new in TYPICAL_MISTAKES.get(assignment, []):
        notebook = edit(notebook, exercise, old, new)
    return notebook


def write(
    notebook: dict | str, folder: Path, student: str, assignment: str, name: str | None = None
) -> Path:
    """Write a submission in nbgrader's layout: ``folder/<student>/<assignment>/<name>``."""
    target = folder / student / assignment
    target.mkdir(parents=True, exist_ok=True)
    path = target / (name or f"{assignment}.ipynb")
    path.write_text(notebook if isinstance(notebook, str) else json.dumps(notebook, indent=1))
    return path
