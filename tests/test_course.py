"""The course's registry: exercises come from the source notebook, and adding one follows the
written path of docs/adding.md, which ``make check`` enforces step by step."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from scenarios import ROOT

from autograder import course

TOY = "double"
TOY_SOLUTION = f'''def {TOY}(x: torch.Tensor) -> torch.Tensor:
    """Twice x, elementwise."""
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION'''
TOY_GRADE_CELL = f"""# Checks for `{TOY}` (1 point). Run this cell after the one above.
from aekit.checks import check

check("{TOY}")
### BEGIN HIDDEN TESTS
from autograder.grade_cells import hidden_checks

hidden_checks("mnist_autoencoders", "{TOY}")
### END HIDDEN TESTS"""
TOY_PUBLIC = f"""
CHECKS += identified(
    {{
        "double-ones": KnownValue(
            exercise="{TOY}",
            title="doubles a vector of ones",
            inputs=lambda bench: (torch.ones(3),),
            expected=torch.full((3,), 2.0),
            what="{TOY}(ones(3))",
            result="the result",
        )
    }},
    beside=CHECKS,
)
"""
TOY_HIDDEN = f"""
from aekit.checks.families import KnownValue


class HiddenKnownValue(KnownValue):
    hidden = True


CHECKS += identified(
    {{
        "double-negatives": HiddenKnownValue(
            exercise="{TOY}",
            title="doubles negative numbers too",
            inputs=lambda bench: (torch.tensor([-1.0, -2.5]),),
            expected=torch.tensor([-2.0, -5.0]),
            what="{TOY}([-1, -2.5])",
            result="the result",
        )
    }},
    beside=CHECKS,
)
"""


def test_the_kits_course_has_no_problem():
    assert [problem for name in course.names() for problem in course.problems(name)] == []


def test_the_exercises_and_questions_are_the_source_notebooks():
    found = course.outline(course.notebook("mnist_autoencoders"))
    assert found.exercises[:3] == ("make_encoder", "make_decoder", "reconstruction_loss")
    assert [q.grade_id for q in found.questions] == ["q_sigmoid", "q_blurry", "q_maps", "q_beta"]
    assert found.points("VAEEncoder") == 3 and found.written_points == 4


def test_the_zygote_imports_what_each_notebook_imports_of_the_kit_and_matplotlib():
    mnist = course.notebook_imports("mnist_autoencoders")
    cardiac = course.notebook_imports("cardiac_autoencoders")
    assert {"matplotlib.pyplot", "aekit.datasets.mnist", "aekit.training"} <= set(mnist)
    assert {"aekit.anatomy", "aekit.datasets.acdc"} <= set(cardiac) - set(mnist)
    # never the grade cells' autograder (not on the sandbox's files), torch or the standard library
    assert {module.split(".")[0] for module in mnist + cardiac} == {"aekit", "matplotlib"}


def copy_of_the_course(folder: Path) -> Path:
    """What a course needs to grade: the two packages and the source notebooks."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("aekit", "autograder", "source"):
        shutil.copytree(ROOT / part, folder / part, ignore=ignore)
    return folder


def add_cells(root: Path, grade_cell: bool = True, said: str = "(1 point)") -> None:
    """Step 1: a solution cell and its grade cell, after the last exercise's."""
    path = course.notebook("mnist_autoencoders", root)
    notebook = json.loads(path.read_text())
    meta = lambda **fields: {"nbgrader": {"schema_version": 3, "locked": False, **fields}}  # noqa: E731
    cells = [
        {
            "cell_type": "code",
            "metadata": meta(grade=False, solution=True, grade_id=TOY),
            "source": TOY_SOLUTION,
            "outputs": [],
            "execution_count": None,
        }
    ]
    if grade_cell:
        grade = meta(grade=True, solution=False, grade_id=f"check_{TOY}", points=1.0)
        grade["nbgrader"]["locked"] = True
        cells.append(
            {
                "cell_type": "code",
                "metadata": grade,
                "source": TOY_GRADE_CELL.replace("(1 point)", said),
                "outputs": [],
                "execution_count": None,
            }
        )
    last = max(
        index
        for index, cell in enumerate(notebook["cells"])
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "check_interpolate"
    )
    notebook["cells"][last + 1 : last + 1] = cells
    path.write_text(json.dumps(notebook, indent=1))


def add_checks(root: Path, public: bool = True, hidden: bool = True) -> None:
    """Steps 2 and 3: the public checks (aekit) and the hidden ones (autograder)."""
    if public:
        with (root / "aekit" / "checks" / "mnist.py").open("a") as module:
            module.write(TOY_PUBLIC)
    if hidden:
        with (root / "autograder" / "hidden" / "mnist.py").open("a") as module:
            module.write(TOY_HIDDEN)


def run_in(root: Path, *command: str, timeout: float = 600) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, *command],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def course_check(root: Path) -> subprocess.CompletedProcess:
    return run_in(root, "-m", "autograder.course")


def test_a_toy_exercise_added_by_the_written_path_is_graded(tmp_path):
    root = copy_of_the_course(tmp_path / "course")
    add_cells(root)
    add_checks(root)
    checked = course_check(root)
    assert checked.returncode == 0, checked.stderr
    notebook = course.notebook("mnist_autoencoders", root)
    wrong = json.loads(notebook.read_text())
    for cell in wrong["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == TOY:
            cell["source"] = cell["source"].replace("return 2 * x", "return x + 2")
    submitted = tmp_path / "submitted"
    for student, content in (("ada", notebook.read_text()), ("bea", json.dumps(wrong))):
        (submitted / student).mkdir(parents=True)
        (submitted / student / "mnist_autoencoders.ipynb").write_text(content)
    command = ["-m", "aekit", "grade", "mnist_autoencoders", str(submitted)]
    graded = run_in(root, *command, "--out", str(tmp_path / "out"), "--quiet")
    assert graded.returncode == 0, graded.stderr
    ada = json.loads((tmp_path / "out" / "ada" / "results.json").read_text())
    bea = json.loads((tmp_path / "out" / "bea" / "results.json").read_text())
    toy = [test for test in ada["tests"] if test["extra_data"]["exercise"] == TOY]
    assert [(test["name"], test["score"]) for test in toy] == [
        (f"{TOY}: doubles a vector of ones", 0.5),
        (f"{TOY}: doubles negative numbers too", 0.5),
    ]
    assert (ada["score"], ada["extra_data"]["max_score"]) == (22, 26)  # 21 + 1, + 4 written
    assert bea["score"] == 21
    assert "double: 0 / 1" in bea["output"]


@pytest.mark.parametrize(
    ("skipped", "said"),
    [
        ("checks", "exercise 'double' has no checks"),
        ("hidden checks", "grade cell check_double gives 1 point, its checks 0.5"),
        ("grade cell", "solution cell 'double' has no grade cell check_double after it"),
        ("cells", "checks of 'double' in aekit.checks.mnist or autograder.hidden.mnist"),
        ("points in the comment", "grade cell check_double should say (1 point)"),
    ],
)
def test_make_check_catches_each_skipped_step(tmp_path, skipped, said):
    root = copy_of_the_course(tmp_path / "course")
    if skipped != "cells":
        comment = "(2 points)" if skipped == "points in the comment" else "(1 point)"
        add_cells(root, grade_cell=skipped != "grade cell", said=comment)
    if skipped != "checks":
        add_checks(root, hidden=skipped != "hidden checks")
    checked = course_check(root)
    assert checked.returncode == 1
    assert said in checked.stderr and "Traceback" not in checked.stderr, checked.stderr


def test_checks_that_cannot_be_imported_are_one_clear_problem(tmp_path):
    root = copy_of_the_course(tmp_path / "course")
    add_cells(root)
    add_checks(root)
    add_checks(root, public=False)  # the hidden check's id twice
    checked = course_check(root)
    assert checked.returncode == 1
    assert "share the id 'double-negatives'" in checked.stderr
    assert "Traceback" not in checked.stderr
