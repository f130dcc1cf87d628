"""Which notebooks are submissions, and whose: the rules ``aekit grade`` follows.

- ``SUBMITTED`` in nbgrader's layout: ``<student>/<assignment>/*.ipynb``; a notebook directly
  in ``<student>/`` and loose notebooks in ``SUBMITTED`` (the student id is the file stem) are
  accepted too.
- One student's folder (``submitted/alice``, holding ``mnist_autoencoders/``) is that student.
- One notebook: its student is the folder above ``<assignment>/`` in nbgrader's layout
  (``submitted/alice/mnist_autoencoders/x.ipynb`` is alice), otherwise the file stem.
- A student folder with several notebooks is graded on ``<assignment>.ipynb`` when there is
  one; otherwise that student is not graded, and the message says why and what to do.
- Refused, each with a message: symbolic links (a notebook, or a student's folder or its
  ``<assignment>/``, pointing elsewhere), a course folder (one holding ``source/``), no
  submission at all.
"""

from dataclasses import dataclass
from pathlib import Path

SKIPPED = {".ipynb_checkpoints", "__pycache__"}


class DiscoveryError(ValueError):
    """``SUBMITTED`` is not a folder of submissions (or a notebook)."""


@dataclass(frozen=True)
class Submission:
    """A student and their notebook, or why there is none; ``note`` says which was chosen."""

    student: str
    notebook: Path | None
    problem: str | None = None
    note: str | None = None


def discover(target: Path, assignment: str) -> list[Submission]:
    """The submissions under ``target`` (a notebook or a folder), sorted by student id."""
    if target.is_symlink():
        raise DiscoveryError(f"{target} is a symbolic link: pass the real path")
    if target.is_file():
        return [Submission(_student_of(target, assignment), target)]
    if not target.is_dir():
        raise DiscoveryError(f"{target} is neither a notebook nor a folder of submissions")
    if (target / "source" / assignment).is_dir():
        raise DiscoveryError(
            f"{target} is a course folder (it holds source/{assignment}/): pass the folder of "
            "submissions, e.g. submitted/"
        )
    if (target / assignment).is_dir():  # one student's folder
        return [_student_notebook(target, assignment)]
    found = [_loose(path) for path in sorted(target.glob("*.ipynb"))]
    for folder in sorted(target.iterdir()):
        if folder.name.startswith(".") or folder.name in SKIPPED:
            continue
        if folder.is_symlink() and folder.is_dir():
            found.append(Submission(folder.name, None, _link(folder.name + "/")))
        elif folder.is_dir():
            found.append(_student_notebook(folder, assignment))
    if not found:
        raise DiscoveryError(
            f"no submissions found in {target} (expected {target}/<student>/{assignment}/*.ipynb)"
        )
    return sorted(found, key=lambda submission: submission.student)


def _student_of(notebook: Path, assignment: str) -> str:
    folder = notebook.resolve().parent
    if folder.name == assignment and folder.parent != folder:
        return folder.parent.name
    return notebook.stem


def _loose(path: Path) -> Submission:
    if linked_elsewhere(path, path.parent):
        return Submission(path.stem, None, _link(path.name))
    return Submission(path.stem, path)


def linked_elsewhere(path: Path, folder: Path) -> bool:
    """Whether ``path`` is a symbolic link, or reached through one, out of ``folder``: a
    submission is the student's own file, never a link to another (the solutions')."""
    return path.is_symlink() or not path.resolve().is_relative_to(folder.resolve())


def _link(name: str) -> str:
    return f"{name} is a symbolic link to somewhere else: submit the notebook itself. Not graded."


def _student_notebook(folder: Path, assignment: str) -> Submission:
    inner = folder / assignment
    where = f"{folder.name}/{assignment}/" if inner.is_dir() else f"{folder.name}/"
    candidates = sorted(inner.glob("*.ipynb")) if inner.is_dir() else []
    candidates = candidates or sorted(folder.glob("*.ipynb"))
    if not candidates:
        return Submission(
            folder.name,
            None,
            f"No notebook (.ipynb) found in {folder.name}/ or {folder.name}/{assignment}/.",
        )
    named = [path for path in candidates if path.stem == assignment]
    chosen = named[0] if named else candidates[0] if len(candidates) == 1 else None
    if chosen is None:
        listed = ", ".join(path.name for path in candidates)
        return Submission(
            folder.name,
            None,
            f"{len(candidates)} notebooks in {where} ({listed}): keep only the one to grade, "
            f"or name it {assignment}.ipynb. Not graded.",
        )
    if linked_elsewhere(chosen, folder):
        return Submission(folder.name, None, _link(where + chosen.name))
    note = None
    if len(candidates) > 1:
        others = ", ".join(path.name for path in candidates if path != chosen)
        note = (
            f"Graded {chosen.name}, the notebook named after the assignment (also there: {others})."
        )
    return Submission(folder.name, chosen, note=note)
