"""The whole nbgrader round trip, headless: generate, submit, autograde, feedback, export.

nbgrader's points per exercise must equal ``aekit grade``'s for the same notebooks. Students
are sharded over separate course folders (and gradebooks) so two autograde runs go in
parallel; the notebooks run in fast mode because nbgrader sets NBGRADER_EXECUTION.
"""

import csv
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from scenarios import MNIST, ROOT, mnist_scenarios

from autograder.assignments import get_assignment
from autograder.batch import grade_all
from autograder.reference import load_reference
from autograder.release import tool_environment

pytestmark = pytest.mark.slow

# Honest submissions: nbgrader runs the student's code in the kernel that grades it, so the
# stalling, crashing and tampering scenarios are aekit grade's business (see the README).
SHARDS = [
    ["solution", "code-only", "mutant-kl-wrong-sign"],
    ["untouched-release", "written-differently", "mutant-vae-decodes-mu"],
]


def nbgrader(course: Path, *arguments: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "nbgrader", *arguments, "--log-level=ERROR"]
    return subprocess.run(command, cwd=course, env=tool_environment(), capture_output=True, text=True, timeout=1200)


def round_trip(course: Path, students: list[str], submissions: Path) -> dict:
    """Generate, submit, autograde, give feedback, export; the gradebook's auto scores."""
    from nbgrader.api import Gradebook

    course.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "source" / MNIST, course / "source" / MNIST)
    assert nbgrader(course, "generate_assignment", MNIST, "--force").returncode == 0
    for student in students:
        target = course / "submitted" / student / MNIST
        shutil.copytree(submissions / student / MNIST, target)
        (target / "timestamp.txt").write_text("2026-11-20 12:00:00.000000 UTC")
    autograde = nbgrader(course, "autograde", MNIST, "--force")
    assert autograde.returncode == 0, autograde.stderr[-2000:]
    assert nbgrader(course, "generate_feedback", MNIST, "--force").returncode == 0
    assert nbgrader(course, "export").returncode == 0
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="aekit") as gradebook:
        for student in students:
            notebook = gradebook.find_submission_notebook(MNIST, MNIST, student)
            scores[student] = {
                grade.name.removeprefix("check_"): grade.auto_score
                for grade in notebook.grades
                if grade.name.startswith("check_")
            }
    return scores


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("submitted")
    for scenario in mnist_scenarios(submissions / "planted.json"):
        if any(scenario.name in shard for shard in SHARDS):
            scenario.write(submissions, MNIST)
    base = tmp_path_factory.mktemp("courses")
    with ThreadPoolExecutor(max_workers=len(SHARDS)) as pool:
        shards = pool.map(lambda pair: round_trip(base / f"shard{pair[0]}", pair[1], submissions), enumerate(SHARDS))
    nbgrader_scores = {student: scores for shard in shards for student, scores in shard.items()}
    out = tmp_path_factory.mktemp("aekit")
    grade_all(submissions, out, load_reference(get_assignment(MNIST)), jobs=2, progress=False)
    return {"nbgrader": nbgrader_scores, "aekit": out, "courses": base}


def aekit_points(out: Path, student: str) -> dict[str, float]:
    import json

    points: dict[str, float] = {}
    for test in json.loads((out / student / "results.json").read_text())["tests"]:
        exercise = test["name"].split(": ", 1)[0]
        points[exercise] = points.get(exercise, 0.0) + test["score"]
    return points


@pytest.mark.parametrize("student", [student for shard in SHARDS for student in shard])
def test_nbgrader_gives_the_same_points_per_exercise_as_aekit_grade(results, student):
    assert results["nbgrader"][student] == aekit_points(results["aekit"], student)


def test_feedback_shows_no_hidden_test_code_nor_traceback(results):
    pages = list(results["courses"].glob("shard*/feedback/*/*/*.html"))
    assert len(pages) == sum(len(shard) for shard in SHARDS)
    for page in pages:
        text = page.read_text()
        for secret in ("hidden_checks", "BEGIN HIDDEN TESTS", "autograder.grade_cells", "Traceback"):
            assert secret not in text, f"{page}: {secret}"


def test_export_writes_every_student(results):
    rows = []
    for path in results["courses"].glob("shard*/grades.csv"):
        rows += list(csv.DictReader(path.open()))
    assert sorted(row["student_id"] for row in rows) == sorted(student for shard in SHARDS for student in shard)
