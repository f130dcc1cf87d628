"""The whole nbgrader round trip, headless: generate, submit, autograde, feedback, export.

nbgrader's points per exercise must equal ``aekit grade``'s for the same notebooks. The
notebooks run in fast mode because nbgrader sets NBGRADER_EXECUTION.
"""

import csv
from pathlib import Path

import pytest
from scenarios import MNIST, mnist_scenarios

from autograder.assignments import get_assignment
from autograder.batch import grade_all
from autograder.nbgrader_course import round_trip
from autograder.reference import load_reference

pytestmark = pytest.mark.slow

# Honest submissions: nbgrader runs the student's code in the kernel that grades it, so the
# stalling, crashing and tampering scenarios are aekit grade's business (see the README).
# Each notebook runs top to bottom (about 30 s in fast mode); `make bench` compares all of the
# honest scenarios.
STUDENTS = ["solution", "untouched-release", "code-only", "typical-mistakes"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("submitted")
    for scenario in mnist_scenarios(submissions / "planted.json"):
        if scenario.name in STUDENTS:
            scenario.write(submissions, MNIST)
    course = tmp_path_factory.mktemp("courses") / "course"
    scores = round_trip(course, MNIST, submissions, STUDENTS)
    out = tmp_path_factory.mktemp("aekit")
    grade_all(submissions, out, load_reference(get_assignment(MNIST)), jobs=2, progress=False)
    return {"nbgrader": scores, "aekit": out, "course": course}


def aekit_points(out: Path, student: str) -> dict[str, float]:
    import json

    points: dict[str, float] = {}
    for test in json.loads((out / student / "results.json").read_text())["tests"]:
        exercise = test["name"].split(": ", 1)[0]
        points[exercise] = points.get(exercise, 0.0) + test["score"]
    return points


@pytest.mark.parametrize("student", STUDENTS)
def test_nbgrader_gives_the_same_points_per_exercise_as_aekit_grade(results, student):
    assert results["nbgrader"][student] == aekit_points(results["aekit"], student)


def test_feedback_shows_no_hidden_test_code(results):
    pages = list(results["course"].glob("feedback/*/*/*.html"))
    assert len(pages) == len(STUDENTS)
    for page in pages:
        text = page.read_text()
        for secret in ("hidden_checks", "BEGIN HIDDEN TESTS", "autograder.grade_cells"):
            assert secret not in text, f"{page}: {secret}"


def test_feedback_tracebacks_of_grade_cells_are_reduced_to_the_error():
    from nbformat.v4 import new_code_cell, new_output

    from autograder.nbgrader_plugins import ScrubTracebacks

    cell = new_code_cell("check('x')\nhidden_checks('a', 'x')")
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "check_x", "points": 1.0}
    quoted = ["Cell In[3], line 1", "----> 1 check('x')", "      2 hidden_checks('a', 'x')"]
    cell.outputs = [
        new_output(
            "error", ename="NameError", evalue="name 'check' is not defined", traceback=quoted
        )
    ]
    cell, _ = ScrubTracebacks().preprocess_cell(cell, {}, 0)
    assert cell.outputs[0]["traceback"] == ["NameError: name 'check' is not defined"]


def test_export_writes_every_student(results):
    rows = list(csv.DictReader((results["course"] / "grades.csv").open()))
    assert sorted(row["student_id"] for row in rows) == sorted(STUDENTS)
