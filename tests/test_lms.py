"""The Canvas import CSV: every student matched or named, no grade blanked or made up."""

import csv
import io
from pathlib import Path

import pytest

from autograder.lms import IDENTITY, POINTS_ROW, canvas_csv, read_grades, read_roster

COLUMN = "Autoencoders (4242)"
# A gradebook as Canvas exports it: the Points Possible row, a manual-posting row, the test
# student Canvas adds to every course, another assignment's column and the computed totals.
ROSTER = f"""Student,ID,SIS User ID,SIS Login ID,Section,Quiz 1 (17),{COLUMN},Current Score,Final Score
    Points Possible,,,,,10.00,21.00,(read only),(read only)
,,,,,,Manual Posting,,
"Lovelace, Ada",101,S-001,ada,Group A,9.00,,90.00,90.00
"Babbage, Charles",102,S-002,cbabbage,Group A,7.00,15.00,70.00,70.00
"Hopper, Grace",103,S-003,ghopper,Group B,8.00,12.50,80.00,80.00
"Turing, Alan",104,S-004,aturing,Group B,,,0.00,0.00
"Student, Test",105,,,Group A,,,,
"""


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def cell(text: str, login: str) -> str:
    return next(row for row in rows_of(text) if row[3] == login)[5]


@pytest.fixture
def roster(tmp_path) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text("\ufeff" + ROSTER, encoding="utf-8")  # Excel's byte-order mark
    return path


def test_with_a_roster_every_student_is_matched_by_canvas_own_columns(roster):
    grades = [
        ("ada", 21.0, 21.0, "graded"),
        ("S-002", 18.5, 21.0, "graded"),  # an SIS User ID
        ("GHOPPER", 20.0, 21.0, "kept (graded)"),  # another case
    ]
    text, notes = canvas_csv(grades, COLUMN, roster)
    rows = rows_of(text)
    assert rows[0] == [*IDENTITY, COLUMN]  # Canvas needs this order
    assert rows[1] == [POINTS_ROW, "", "", "", "", "21.00"]
    assert rows[2] == ["Lovelace, Ada", "101", "S-001", "ada", "Group A", "21"]
    assert cell(text, "cbabbage") == "18.5" and cell(text, "ghopper") == "20"
    assert notes[0] == "matched 3 of 3 graded students: 2 by SIS Login ID, 1 by SIS User ID"


def test_roster_students_without_a_grade_keep_what_canvas_holds_and_are_named(roster):
    text, notes = canvas_csv([("ada", 21.0, 21.0, "graded")], COLUMN, roster)
    assert cell(text, "cbabbage") == "15.00" and cell(text, "aturing") == ""
    assert len(rows_of(text)) == 2 + 5  # header, points, every roster student
    (missing,) = [note for note in notes if "with no grade" in note]
    assert "4 students" in missing and "Turing, Alan (aturing)" in missing
    assert "Student, Test (105)" in missing


def test_an_ungradable_notebook_is_neither_zero_nor_blank(roster):
    grades = [
        ("ada", 0.0, 21.0, "error: The submission could not be read"),
        ("cbabbage", 0.0, 21.0, "grader error: RuntimeError: lost"),
        ("ghopper", 3.0, 21.0, "check: This notebook looks like cardiac_autoencoders"),
    ]
    text, notes = canvas_csv(grades, COLUMN, roster)
    assert cell(text, "ada") == "" and cell(text, "cbabbage") == "15.00"  # as Canvas has them
    assert cell(text, "ghopper") == "3"  # graded: written, and listed for a look
    said = "\n".join(notes)
    assert "with status 'error', not written" in said and "ada (error: The submission" in said
    assert "with status 'grader error'" in said
    assert "worth a look, written: ghopper (check: This notebook" in said


def test_a_graded_student_missing_from_the_roster_is_added_and_named(roster):
    text, notes = canvas_csv([("newcomer", 12.0, 21.0, "graded")], COLUMN, roster)
    assert rows_of(text)[-1] == ["newcomer", "", "", "newcomer", "", "12"]
    assert any("not in the roster" in note and "newcomer" in note for note in notes)
    assert notes[0] == "matched 0 of 1 graded students: none"


def test_the_column_may_be_named_without_its_canvas_id(roster):
    text, notes = canvas_csv([("ada", 21.0, 21.0, "graded")], "Autoencoders", roster)
    assert rows_of(text)[0][-1] == COLUMN
    assert f"the roster's column {COLUMN!r} is used for 'Autoencoders'" in notes


def test_a_new_assignment_and_other_points_are_said(roster):
    _, notes = canvas_csv([("ada", 10.0, 25.0, "graded")], "Autoencoders II", roster)
    assert any("Canvas will create that assignment" in note for note in notes)
    _, notes = canvas_csv([("ada", 10.0, 25.0, "graded")], COLUMN, roster)
    assert any("21.00 points, the grader 25" in note for note in notes)


def test_without_a_roster_ids_are_logins_and_the_limitation_is_said():
    grades = [
        ("bob", 15.5, 21.0, "graded"),
        ("ada", 21.0, 21.0, "graded"),
        ("eve", 0.0, 21.0, "error: The submission could not be read"),
        ("fay", 20.0, 25.0, "pending: 4 written points not marked"),
    ]
    text, notes = canvas_csv(grades, COLUMN)
    assert rows_of(text) == [
        [*IDENTITY, COLUMN],
        [POINTS_ROW, "", "", "", "", "21"],
        ["ada", "", "", "ada", "", "21"],
        ["bob", "", "", "bob", "", "15.5"],
    ]
    assert "No roster" in notes[0] and "Canvas login" in notes[0]
    said = "\n".join(notes)
    assert "eve (error:" in said and "fay (pending: 4 written points not marked)" in said


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("name,score\nada,3\n", "lacks the column"),
        ("Student,SIS Login ID\nAda,ada\n", "lacks the column.s. ID, Section"),
        ("Student,ID,SIS Login ID,Section\nAda,1,ada,A\nBob,2,ada,B\n", "two students with"),
        ("Student,ID,SIS Login ID,Section\nAda,1,ada,A,extra\n", "more cells than columns"),
    ],
)
def test_a_malformed_roster_is_refused_with_why(tmp_path, text, message):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_roster(path)


def test_an_empty_column_name_is_refused():
    with pytest.raises(ValueError, match="needs a name"):
        canvas_csv([("ada", 1.0, 21.0, "graded")], "  ")


def test_grades_csv_is_read_by_name_and_pending_written_points_hold_a_grade_back(tmp_path):
    path = tmp_path / "grades.csv"
    path.write_text(
        "student_id,score,max_score,autograded,written,written_pending,status\n"
        "ada,25,25,21,4,0,graded\n"
        "bob,15,25,15,0,4,graded\n"
        "eve,0,25,0,,,error: The submission could not be read\n"
    )
    assert read_grades(path) == [
        ("ada", 25.0, 25.0, "graded"),
        ("bob", 15.0, 25.0, "pending: 4 written points not marked"),
        ("eve", 0.0, 25.0, "error: The submission could not be read"),
    ]
    old = tmp_path / "old.csv"
    old.write_text("student_id,score,max_score,status\nada,21,21,graded\n")
    assert read_grades(old) == [("ada", 21.0, 21.0, "graded")]


def test_the_canvas_command_writes_the_import_beside_the_grades(tmp_path, capsys):
    from aekit.cli import main as aekit

    (tmp_path / "grades.csv").write_text(
        "student_id,score,max_score,autograded,written,written_pending,status\n"
        "ada,25,25,21,4,0,graded\nbea,21,25,21,0,4,graded\n"
    )
    assert aekit(["canvas", str(tmp_path), "--column", "Autoencoders (4242)"]) == 0
    lines = (tmp_path / "canvas.csv").read_text().splitlines()
    assert lines[0].endswith(",Autoencoders (4242)") and lines[2] == "ada,,,ada,,25"
    assert "bea" in capsys.readouterr().out and len(lines) == 3  # pending: left out, said
    assert aekit(["canvas", str(tmp_path / "nowhere"), "--column", "A (1)"]) == 2
    assert "cannot read" in capsys.readouterr().err
