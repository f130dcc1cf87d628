"""Run nbgrader headless in a scratch course: generate, submit, autograde, feedback, export.

Used by the tests and the benchmarks to compare nbgrader's points with ``aekit grade``'s; an
instructor's real course runs the same nbgrader commands from the course root.
"""

import shutil
import subprocess
import sys
from pathlib import Path

from autograder.assignments import COURSE_ROOT
from autograder.release import tool_environment


class NbgraderFailed(RuntimeError):
    pass


def nbgrader(course: Path, *arguments: str) -> subprocess.CompletedProcess:
    """One nbgrader command in ``course``; :class:`NbgraderFailed` with its log when it fails."""
    command = [sys.executable, "-m", "nbgrader", *arguments, "--log-level=ERROR"]
    result = subprocess.run(
        command, cwd=course, env=tool_environment(), capture_output=True, text=True, timeout=3600
    )
    if result.returncode != 0:
        raise NbgraderFailed(
            f"nbgrader {' '.join(arguments)}: {(result.stderr or result.stdout)[-2000:]}"
        )
    return result


def round_trip(
    course: Path, assignment: str, submissions: Path, students: list[str]
) -> dict[str, dict[str, float]]:
    """Autograde ``submissions/<student>/<assignment>/`` in a new course; points per exercise."""
    from nbgrader.api import Gradebook

    course.mkdir(parents=True)
    shutil.copy(COURSE_ROOT / "nbgrader_config.py", course)
    shutil.copytree(COURSE_ROOT / "source" / assignment, course / "source" / assignment)
    nbgrader(course, "generate_assignment", assignment, "--force")
    for student in students:
        target = course / "submitted" / student / assignment
        shutil.copytree(submissions / student / assignment, target)
        (target / "timestamp.txt").write_text("2026-11-20 12:00:00.000000 UTC")
    nbgrader(course, "autograde", assignment, "--force")
    nbgrader(course, "generate_feedback", assignment, "--force")
    nbgrader(course, "export")
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="aekit") as gradebook:
        for student in students:
            notebook = gradebook.find_submission_notebook(assignment, assignment, student)
            scores[student] = {
                grade.name.removeprefix("check_"): grade.auto_score
                for grade in notebook.grades
                if grade.name.startswith("check_")
            }
    return scores
