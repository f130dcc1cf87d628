"""release/ and solutions/: generated from source/, complete, stubbed, and validated by nbgrader."""

import json
import os
import re

import pytest

from aekit.cli import main as aekit
from autograder.assignments import ASSIGNMENTS, COURSE_ROOT, get_assignment

ASSIGNMENT_NAMES = [name for name in ASSIGNMENTS if (COURSE_ROOT / "source" / name).exists()]


def cells(kind: str, assignment: str) -> dict[str, str]:
    """grade_id -> source of the nbgrader cells of a committed notebook."""
    document = json.loads((COURSE_ROOT / kind / assignment / f"{assignment}.ipynb").read_text())
    found = {}
    for cell in document["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id:
            found[grade_id] = "".join(cell["source"])
    return found


@pytest.mark.parametrize("assignment", ASSIGNMENT_NAMES)
def test_the_release_has_every_exercise_as_a_loud_stub_with_its_signature(assignment):
    release, source = cells("release", assignment), cells("source", assignment)
    for exercise in get_assignment(assignment).exercises:
        stub = release[exercise]
        assert "raise NotImplementedError()" in stub and "BEGIN SOLUTION" not in stub
        signature = re.search(
            rf"^(def|class) {exercise}\b.*$", source[exercise], re.MULTILINE
        ).group(0)
        assert signature in stub, f"{exercise}: the signature must stay visible"
        docstring = source[exercise].split('"""')[1]
        assert docstring in stub, f"{exercise}: the docstring must stay visible"
        assert f'check("{exercise}")' in release[f"check_{exercise}"]
        assert "hidden_checks" not in release[f"check_{exercise}"]


@pytest.mark.parametrize("assignment", ASSIGNMENT_NAMES)
def test_the_solutions_keep_solutions_and_drop_hidden_tests(assignment):
    solutions = cells("solutions", assignment)
    for exercise in get_assignment(assignment).exercises:
        assert "raise NotImplementedError" not in solutions[exercise]
        assert "hidden_checks" not in solutions[f"check_{exercise}"]


@pytest.mark.slow
def test_release_and_solutions_equal_a_fresh_generation_and_do_not_leak(capsys):
    assert aekit(["release", "--check"]) == 0, capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENT_NAMES)
def test_nbgrader_validates_the_source_and_fails_every_test_of_the_release(assignment, monkeypatch):
    """nbgrader's Validator (its exit code says nothing): the source notebook passes, run top to
    bottom in fast mode; the untouched release fails every grade cell."""
    from nbgrader.validator import Validator

    monkeypatch.setenv(
        "PATH", os.pathsep.join([os.path.dirname(os.sys.executable), os.environ["PATH"]])
    )
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(COURSE_ROOT)).load_config()
    assert config.Execute.iopub_timeout >= 60  # a busy machine must not fail a cell
    source = COURSE_ROOT / "source" / assignment / f"{assignment}.ipynb"
    result = Validator(config=config).validate(str(source))
    assert not result.get("failed") and not result.get("changed"), result.get("failed")
    release = COURSE_ROOT / "release" / assignment / f"{assignment}.ipynb"
    result = Validator(invert=True, config=config).validate(str(release))
    assert not result.get("passed"), result.get("passed")
