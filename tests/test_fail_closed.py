"""The grader refuses weak isolation unless told, states its fences, and one submission's
trouble never costs the batch."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from scenarios import MNIST, MNIST_SOLUTION, ROOT

from aekit.cli import main as aekit
from autograder import batch
from autograder.assignments import get_assignment
from autograder.sandbox import Limits

SOLUTION = MNIST_SOLUTION


def grade_without_bubblewrap(tmp_path, *options: str) -> subprocess.CompletedProcess:
    """``aekit grade`` in a fresh process whose PATH holds no bwrap."""
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    notebook = tmp_path / "ada.ipynb"
    shutil.copy(SOLUTION, notebook)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AEKIT_")}
    environment["PATH"] = str(empty)
    command = [sys.executable, "-m", "aekit", "grade", MNIST, str(notebook), "--quiet"]
    command += ["--out", str(tmp_path / "out"), *options]
    return subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_grading_refuses_to_run_without_the_sandbox_unless_told(tmp_path):
    refused = grade_without_bubblewrap(tmp_path)
    assert refused.returncode == 2
    assert "bubblewrap" in refused.stderr and "--weak-isolation" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "out" / "ada" / "results.json").exists()
    allowed = grade_without_bubblewrap(tmp_path, "--weak-isolation")
    assert allowed.returncode == 0, allowed.stderr
    results = json.loads((tmp_path / "out" / "ada" / "results.json").read_text())
    assert results["score"] == get_assignment(MNIST).max_score
    fences = results["extra_data"]["fences"]
    assert fences and not any("bubblewrap" in fence for fence in fences)
    assert "sandbox: " in allowed.stdout


def test_the_summary_states_the_fences_in_force(tmp_path, capsys):
    notebook = tmp_path / "ada.ipynb"
    shutil.copy(SOLUTION, notebook)
    assert aekit(["grade", MNIST, str(notebook), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    summary = capsys.readouterr().out
    assert "sandbox: " in summary and "seccomp filter" in summary and "bubblewrap" in summary


def test_a_student_named_like_the_graders_own_file_is_refused(reference, tmp_path):
    for student in ("grades.csv", "bea"):
        (tmp_path / "submitted" / student).mkdir(parents=True)
        shutil.copy(SOLUTION, tmp_path / "submitted" / student / f"{MNIST}.ipynb")
    rows = batch.grade_all(tmp_path / "submitted", tmp_path / "out", reference, progress=False)
    statuses = {row.student: row.status for row in rows}
    assert statuses["bea"] == "graded"
    assert statuses["grades.csv"].startswith("refused: the student id")
    assert (tmp_path / "out" / "grades.csv").is_file()


def test_out_inside_the_submissions_is_refused(tmp_path, capsys):
    (tmp_path / "ada").mkdir()
    shutil.copy(SOLUTION, tmp_path / "ada" / f"{MNIST}.ipynb")
    assert aekit(["grade", MNIST, str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "inside" in capsys.readouterr().err


def test_a_grader_error_costs_one_submission_and_keeps_no_grade(reference, tmp_path, monkeypatch):
    for student in ("ada", "bea"):
        (tmp_path / "submitted" / student).mkdir(parents=True)
        shutil.copy(SOLUTION, tmp_path / "submitted" / student / f"{MNIST}.ipynb")
    original = batch.grade_notebook

    def failing(path, reference, student, *args):
        if student == "ada":
            raise AttributeError("'str' object has no attribute 'get'")
        return original(path, reference, student, *args)

    monkeypatch.setattr(batch, "grade_notebook", failing)
    limits = Limits(check_seconds=10.0)
    rows = batch.grade_all(
        tmp_path / "submitted", tmp_path / "out", reference, jobs=2, limits=limits, progress=False
    )
    statuses = {row.student: row.status for row in rows}
    assert statuses["bea"] == "graded"
    assert statuses["ada"].startswith("grader error: AttributeError")
    assert not (tmp_path / "out" / "ada" / "results.json").exists()
    logged = (tmp_path / "out" / "ada" / "grader-error.txt").read_text()
    assert "AttributeError" in logged and "Traceback" in logged and "failing" in logged
    assert not (tmp_path / "out" / "bea" / "grader-error.txt").exists()
    logged = (tmp_path / "out" / "ada" / "grader-error.txt").read_text()
    assert "AttributeError" in logged and "Traceback" in logged and "failing" in logged
    assert not (tmp_path / "out" / "bea" / "grader-error.txt").exists()
