"""Written answers: collected from each notebook, marked by a teaching assistant on a sheet,
merged back into every report.

The grader never marks prose. For each student it keeps the answers (``answers.json`` in the
student's folder, with the solution code cells the class report compares), and after a batch
it writes ``OUT/written.csv``: one row per question and student with the question, the model
answer from the source notebook and the student's answer, and two columns for the TA,
``points`` and ``comment``. An empty answer is marked 0 at once (nothing to read). Merging a
sheet back (``aekit grade ... --written SHEET``) stores the marks (``written.json``) and the
student's results.json, feedback.html and grades.csv then count them; until then every report
says how many points are pending. A mark belongs to the answer it was given for: when a
student resubmits a different answer, its mark is dropped and the question is pending again.
"""

import csv
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import Question
from autograder.output import spreadsheet_text, write_json, write_whole

ANSWERS = "answers.json"  # per student: the answers and solution code cells of the notebook
MARKS = "written.json"  # per student: the TA's marks, each with the answer it was given for
SHEET = "written.csv"
PLACEHOLDER = "YOUR ANSWER HERE"  # what nbgrader leaves in a written answer's cell
EMPTY_COMMENT = "No answer was given."
KEPT_CHARS = 20_000  # of one answer or code cell: more is no answer a TA reads
COLUMNS = (
    "question",
    "student_id",
    "points",
    "comment",
    "max_points",
    "status",
    "answer",
    "prompt",
    "model_answer",
    "answer_sha256",
)


class SheetError(ValueError):
    """A sheet that cannot be merged; the message lists every problem, with its row."""


@dataclass
class Written:
    """The written part of one grade. ``elsewhere`` (Gradescope, nbgrader) means these points
    are marked by hand on that platform: they are stated, never counted here."""

    max: float
    questions: list[dict] = field(default_factory=list)  # id, points, score|None, comment, status
    elsewhere: str = ""

    @property
    def score(self) -> float:
        if self.elsewhere:
            return 0.0
        return sum(question["score"] or 0.0 for question in self.questions)

    @property
    def counted(self) -> float:
        """The points this grade is out of for the written answers (none when elsewhere)."""
        return 0.0 if self.elsewhere else self.max

    @property
    def pending(self) -> float:
        if self.elsewhere:
            return self.max
        return sum(question["points"] for question in self.questions if question["score"] is None)

    def as_dict(self) -> dict:
        return {
            "max": self.max,
            "score": self.score,
            "pending": self.pending,
            "elsewhere": self.elsewhere,
            "questions": self.questions,
        }

    @classmethod
    def from_dict(cls, stored: dict) -> "Written":
        return cls(float(stored["max"]), list(stored["questions"]), stored.get("elsewhere", ""))


def answer_of(text: str | None) -> str | None:
    """The answer a cell holds: None when the cell is gone, "" when left as released."""
    if text is None:
        return None
    stripped = text.strip()
    return "" if stripped in ("", PLACEHOLDER) else stripped


def digest(answer: str | None) -> str:
    return hashlib.sha256((answer or "").encode()).hexdigest()[:16]


def collect(document: dict, questions: tuple[Question, ...], exercises: tuple[str, ...]) -> dict:
    """What ``answers.json`` holds for one notebook: written answers and solution code cells,
    by grade_id (a cell the student deleted is absent)."""
    by_id = {}
    cells = document.get("cells", []) if isinstance(document, dict) else []
    for cell in cells if isinstance(cells, list) else []:
        meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
        meta = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if isinstance(grade_id, str) and grade_id not in by_id:
            by_id[grade_id] = _source(cell.get("source", ""))
    return {
        "written": {q.grade_id: answer_of(by_id.get(q.grade_id)) for q in questions},
        "code": {exercise: by_id[exercise] for exercise in exercises if exercise in by_id},
    }


def _source(source) -> str:
    """A cell's text, whatever a hostile notebook put there, cut to :data:`KEPT_CHARS`."""
    text = "".join(map(str, source)) if isinstance(source, list) else str(source)
    return text if len(text) <= KEPT_CHARS else text[:KEPT_CHARS] + "\n… (cut)"


def part(questions: tuple[Question, ...], answers: dict, marks: dict) -> Written:
    """The written part of a grade from the student's answers and the stored marks."""
    rows = []
    for question in questions:
        answer = answers.get(question.grade_id)
        mark = marks.get(question.grade_id)
        row = {"id": question.grade_id, "title": title(question), "points": question.points}
        row.update(score=None, comment="")
        if not answer:
            row.update(
                score=0.0, comment=EMPTY_COMMENT, status="missing" if answer is None else "empty"
            )
        elif mark and mark.get("answer_sha256") == digest(answer):
            row.update(
                score=float(mark["points"]), comment=mark.get("comment", ""), status="marked"
            )
        else:
            row["status"] = "changed since marked" if mark else "pending"
        rows.append(row)
    return Written(sum(question.points for question in questions), rows)


def title(question: Question, limit: int = 140) -> str:
    """The question as one short line: "Question 2: Why are the reconstructions ..."."""
    text = " ".join(question.prompt.split())
    found = re.match(r"\*\*(Question [^*(]*?)\s*(\([^)]*\))?\.?\*\*\s*", text)
    if found:
        text = f"{found.group(1)}: {text[found.end() :]}"
    text = text.replace("**", "").replace("`", "")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def read_json(path: Path) -> dict:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def student_answers(folder: Path) -> dict:
    """The written answers kept in a student's folder, by question ({} when unreadable)."""
    answers = read_json(folder / ANSWERS).get("written", {})
    return answers if isinstance(answers, dict) else {}


def student_part(folder: Path, questions: tuple[Question, ...]) -> Written:
    return part(questions, student_answers(folder), stored_marks(folder))


def stored_marks(folder: Path) -> dict:
    marks = read_json(folder / MARKS).get("marks", {})
    return marks if isinstance(marks, dict) else {}


def write_sheet(out: Path, questions: tuple[Question, ...]) -> Path | None:
    """``OUT/written.csv`` for every student folder with answers; the marks already merged
    are filled in. None when the assignment has no written questions."""
    if not questions:
        return None
    students = {}  # each student's answers and written part, read once
    for folder in sorted(path.parent for path in out.glob(f"*/{ANSWERS}")):
        answers = student_answers(folder)
        students[folder.name] = (answers, part(questions, answers, stored_marks(folder)).questions)
    lines = io.StringIO()
    writer = csv.writer(lines)
    writer.writerow(COLUMNS)
    for index, question in enumerate(questions):
        for student, (answers, rows) in students.items():
            row, answer = rows[index], answers.get(question.grade_id)
            writer.writerow(
                [
                    question.grade_id,
                    student,
                    "" if row["score"] is None else f"{row['score']:g}",
                    row["comment"],
                    f"{question.points:g}",
                    row["status"],
                    spreadsheet_text(answer or ""),  # the student's: shown, never run
                    question.prompt,
                    question.model_answer,
                    digest(answer),
                ]
            )
    write_whole(out / SHEET, lines.getvalue())
    return out / SHEET


def read_sheet(path: Path, out: Path, questions: tuple[Question, ...]) -> dict[str, dict]:
    """The marks of a filled-in sheet, by student then question; :class:`SheetError` listing
    every problem when any row is wrong (then nothing is merged)."""
    if path.exists() and not path.is_file():  # a folder, or a named pipe whose read blocks
        raise SheetError(f"the sheet {path} is not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise SheetError(f"cannot read the sheet {path}: {error}") from None
    reader = csv.DictReader(io.StringIO(text))
    needed = {"question", "student_id", "points", "comment", "answer_sha256"}
    missing = needed - set(reader.fieldnames or [])
    if missing:
        raise SheetError(
            f"{path} is not a written-answers sheet: it lacks the column(s) "
            f"{', '.join(sorted(missing))} (start from the {SHEET} that aekit grade wrote)"
        )
    points_of = {question.grade_id: question.points for question in questions}
    marks: dict[str, dict] = {}
    problems = []
    for line, row in enumerate(reader, start=2):
        problem = _row_problem(row, points_of, out)
        student, question = (
            (row.get("student_id") or "").strip(),
            (row.get("question") or "").strip(),
        )
        if problem is None and question in marks.get(student, {}):
            problem = f"{question} of {student} appears twice"
        if problem:
            problems.append(f"row {line}: {problem}")
            continue
        if (row.get("points") or "").strip() == "":
            marks.setdefault(student, {})[question] = None  # not marked (yet)
            continue
        marks.setdefault(student, {})[question] = {
            "points": float(row["points"]),
            "comment": (row.get("comment") or "").strip(),
            "answer_sha256": (row.get("answer_sha256") or "").strip(),
        }
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise SheetError(f"{path}: nothing was merged; fix these rows:\n  {shown}{more}")
    return marks


def _row_problem(row: dict, points_of: dict[str, float], out: Path) -> str | None:
    question, student = (row.get("question") or "").strip(), (row.get("student_id") or "").strip()
    if question not in points_of:
        return f"unknown question {question!r} (the questions are {', '.join(points_of)})"
    if not student or not (out / student / ANSWERS).is_file():
        return f"no graded student {student!r} in {out}"
    text = (row.get("points") or "").strip()
    if not text:
        return None
    try:
        points = float(text)
    except ValueError:
        return f"points {text!r} of {question} for {student} is not a number"
    if not math.isfinite(points) or not 0 <= points <= points_of[question]:
        return f"points {text} of {question} for {student} not in 0..{points_of[question]:g}"
    return None


def merge(marks: dict[str, dict], out: Path) -> int:
    """Store the sheet's marks in each student's ``written.json``; the number of marks
    given. A row left blank takes back an earlier mark."""
    given = 0
    for student, by_question in marks.items():
        folder = out / student
        stored, answers = stored_marks(folder), student_answers(folder)
        for question, mark in by_question.items():
            if mark is None or not answers.get(question):  # blank, or an empty answer's 0
                stored.pop(question, None)
            else:
                stored[question] = mark
                given += 1
        write_json(folder / MARKS, {"marks": stored})
    return given
