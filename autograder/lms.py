"""Grades for a learning management system: a Canvas gradebook import CSV.

Canvas imports a CSV whose columns are, in this order, ``Student``, ``ID``, ``SIS User ID``,
``SIS Login ID``, ``Section``, then one column per assignment, named like the gradebook's own
export names it (``Assignment Name (12345)``: the number is the assignment's Canvas id; a new
name makes Canvas create an assignment). A second row whose ``Student`` cell holds
``Points Possible`` gives each assignment's points. Canvas finds each row's student by ``ID``
(its own user id), else by ``SIS User ID``, else by ``SIS Login ID``, else by name
(instructure/canvas-lms, lib/gradebook_importer.rb).

What :func:`canvas_csv` writes:

- **With a roster** (the CSV Canvas exports from its gradebook, Grades → Export): one row per
  roster student, with the roster's own five identifying columns, so that Canvas matches
  every row by its ``ID``. Each graded student id is matched to the roster's ``SIS Login
  ID``, then ``SIS User ID``, then ``ID`` (exactly, then ignoring case when that is
  unambiguous); the notes say which column matched. A graded student not in the roster is
  added at the end with the id as ``SIS Login ID`` (a student enrolled after the export is
  still found) and listed. The ``Points Possible`` row keeps the roster's value when it has
  one; a value other than the grader's is listed (the scores are out of the grader's points:
  scale them in Canvas or change the assignment's points).
- **Without a roster**: one row per graded student with the student id as ``Student`` and as
  ``SIS Login ID`` and the other columns empty. Canvas then matches a row only if the id is
  the student's Canvas login (or their name); the notes say so.

A student without a final grade is never given a 0 and never blanked: Canvas's importer counts
an empty cell where Canvas holds a score as a change (``no_change_to_value?``), so importing it
would remove that score. Such a student's cell keeps what the roster says Canvas holds (empty
where Canvas has nothing), and without a roster their row is left out. Each of them is listed.
That covers statuses ``error: ...`` (an unreadable notebook), ``grader error: ...``,
``refused: ...`` and ``pending: ...`` (written answers not marked yet, see :func:`read_grades`).
``check: ...`` (graded, but worth a look) is written with its score and listed.
"""

import csv
import io
import sys
from pathlib import Path

from autograder.output import write_whole

IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MATCHED_BY = ("SIS Login ID", "SIS User ID", "ID")  # the roster columns tried, in this order
# The Student cell of the points row, as Canvas's export writes it (its importer looks for the
# words "Points Possible" in that cell).
POINTS_ROW = "    Points Possible"

Grade = tuple[str, float, float, str]  # student_id, score, max_score, status


def canvas_csv(
    grades: list[Grade], assignment_column: str, roster: Path | None = None
) -> tuple[str, list[str]]:
    """The import CSV's text, and the notes an instructor reads before importing it.

    ``grades`` holds ``(student_id, score, max_score, status)`` rows (:func:`read_grades`
    reads them from grades.csv); ``assignment_column`` names the Canvas assignment, best as
    the roster's own column (``Assignment Name (12345)``). The first note says how students
    were matched; the others are problems, each naming its students. ValueError on a
    malformed roster or an empty column name.
    """
    if not assignment_column.strip():
        raise ValueError("the Canvas assignment column needs a name, e.g. 'Autoencoders (12345)'")
    if roster is None:
        return _without_roster(grades, assignment_column)
    return _with_roster(grades, assignment_column, read_roster(roster))


def final(status: str) -> bool:
    """Whether a grade with this status goes to Canvas (``graded`` or ``check: ...``)."""
    status = status.removeprefix("kept (").removesuffix(")")
    return status == "graded" or status.startswith("check")


def _without_roster(grades: list[Grade], column: str) -> tuple[str, list[str]]:
    notes = [
        "No roster: each student id is written as its SIS Login ID, so Canvas matches a row "
        "only when the id is that student's Canvas login (or name). Export the gradebook from "
        "Canvas (Grades → Export) and pass it as the roster to match every student by their "
        "Canvas ID."
    ]
    rows = _points_row("", _maximum(grades))
    rows += [_login_row(grade) for grade in sorted(grades) if final(grade[3])]
    notes += _status_notes(grades, "left out, so Canvas keeps what it holds for them")
    return _text([*IDENTITY, column], rows), notes


def _with_roster(grades: list[Grade], column: str, roster: "Roster") -> tuple[str, list[str]]:
    header = roster.column_like(column)
    by_row, notes = _match(grades, roster)
    graded = {grade[0]: grade for grade in grades}
    rows = _points_row(roster.points.get(header, ""), _maximum(grades))
    for index, student in enumerate(roster.students):
        mine = graded.get(by_row.get(index, ""))
        cell = f"{mine[1]:g}" if mine and final(mine[3]) else student.get(header, "")
        rows.append([*(student.get(name, "") for name in IDENTITY), cell])
    unmatched = sorted(set(graded) - set(by_row.values()))
    rows += [_login_row(graded[student]) for student in unmatched if final(graded[student][3])]
    notes += _points_notes(roster, header, _maximum(grades))
    notes += _roster_notes(roster, by_row, unmatched, column, header)
    notes += _status_notes(grades, "their cells keep what Canvas holds")
    return _text([*IDENTITY, header], rows), notes


def _points_row(said: str, maximum: float | None) -> list[list[str]]:
    """The Points Possible row: the roster's value if it has one, else the grader's points."""
    points = said or (f"{maximum:g}" if maximum is not None else "")
    return [[POINTS_ROW, "", "", "", "", points]] if points else []


def _login_row(grade: Grade) -> list[str]:
    """A row Canvas can match only by the student id as their login (or name)."""
    student, score = grade[0], grade[1]
    return [student, "", "", student, "", f"{score:g}"]


def _roster_notes(
    roster: "Roster", by_row: dict[int, str], unmatched: list[str], column: str, header: str
) -> list[str]:
    """Who is graded but not in the roster, who is in it with no grade, and the column."""
    notes = []
    if unmatched:
        notes.append(
            f"{_count(unmatched)} graded but not in the roster, added with the id as SIS Login "
            f"ID (Canvas finds them only if it is their login): {', '.join(unmatched)}"
        )
    missing = [roster.label(row) for row in range(len(roster.students)) if row not in by_row]
    if missing:
        notes.append(
            f"{_count(missing)} in the roster with no grade (their cells keep what Canvas "
            f"holds): {', '.join(missing)}"
        )
    if header != column:
        notes.append(f"the roster's column {header!r} is used for {column!r}")
    elif header not in roster.columns:
        notes.append(f"the roster has no column {column!r}: Canvas will create that assignment")
    return notes


def _match(grades: list[Grade], roster: "Roster") -> tuple[dict[int, str], list[str]]:
    """Roster row → graded student id, and a note on which columns matched."""
    by_row: dict[int, str] = {}
    used: dict[str, int] = {}
    for student, *_ in sorted(grades):
        found = roster.find(student, taken=set(by_row))
        if found is not None:
            row, name = found
            by_row[row] = student
            used[name] = used.get(name, 0) + 1
    said = ", ".join(f"{count} by {name}" for name, count in used.items()) or "none"
    return by_row, [f"matched {len(by_row)} of {len(grades)} graded students: {said}"]


def _points_notes(roster: "Roster", header: str, maximum: float | None) -> list[str]:
    said = roster.points.get(header, "")
    if not said or maximum is None:
        return []
    try:
        same = abs(float(said) - maximum) < 1e-9
    except ValueError:
        return [f"the roster's Points Possible for {header!r} is {said!r}, not a number"]
    if same:
        return []
    return [
        f"Canvas gives {header!r} {said} points, the grader {maximum:g}: the scores are out of "
        f"{maximum:g}; scale them in Canvas or change the assignment's points"
    ]


def _status_notes(grades: list[Grade], kept: str) -> list[str]:
    """One note per kind of status that is not a plain grade, naming its students."""
    not_final: dict[str, list[str]] = {}
    flagged: list[str] = []
    for student, _, _, status in sorted(grades):
        if not final(status):
            not_final.setdefault(status.split(":")[0], []).append(f"{student} ({status})")
        elif "check" in status:
            flagged.append(f"{student} ({status})")
    notes = [
        f"{_count(students)} with status {kind!r}, not written ({kept}): {'; '.join(students)}"
        for kind, students in not_final.items()
    ]
    if flagged:
        notes.append(f"{_count(flagged)} graded but worth a look, written: {'; '.join(flagged)}")
    return notes


def _maximum(grades: list[Grade]) -> float | None:
    """The points of the assignment: the max_score most grades give."""
    counts: dict[float, int] = {}
    for _, _, maximum, _ in grades:
        counts[maximum] = counts.get(maximum, 0) + 1
    return max(counts, key=counts.get) if counts else None


def _count(students: list) -> str:
    return f"{len(students)} student{'s' if len(students) != 1 else ''}"


def _text(header: list[str], rows: list[list[str]]) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue()


# --- the roster -----------------------------------------------------------------------------------


class Roster:
    """A Canvas gradebook export: its students, columns and Points Possible row."""

    def __init__(self, columns: list[str], students: list[dict], points: dict[str, str]):
        self.columns, self.students, self.points = columns, students, points
        self.index = {name: self._index(name) for name in MATCHED_BY if name in columns}

    def _index(self, name: str) -> dict[str, int]:
        """Roster row of each value of column ``name``; ValueError when a value is there twice."""
        found: dict[str, int] = {}
        for row, student in enumerate(self.students):
            value = student.get(name, "")
            if value in found:
                raise ValueError(f"the roster has two students with {name} {value!r}")
            if value:
                found[value] = row
        return found

    def find(self, student: str, taken: set[int]) -> tuple[int, str] | None:
        """(row, column that matched) for a graded student id: exactly, else ignoring case
        when one roster value alone matches so."""
        for name, values in self.index.items():
            if student in values and values[student] not in taken:
                return values[student], name
        for name, values in self.index.items():
            rows = [row for value, row in values.items() if value.casefold() == student.casefold()]
            if len(rows) == 1 and rows[0] not in taken:
                return rows[0], name
        return None

    def column_like(self, column: str) -> str:
        """The roster's column for ``column``: the same, or the one ``column (id)`` names."""
        if column in self.columns:
            return column
        named = [name for name in self.columns if name.startswith(f"{column} (")]
        return named[0] if len(named) == 1 else column

    def label(self, row: int) -> str:
        student = self.students[row]
        ids = [student.get(name, "") for name in MATCHED_BY if student.get(name, "")]
        return f"{student.get('Student', '') or '?'} ({ids[0] if ids else 'no id'})"


def read_roster(path: Path) -> Roster:
    """The Canvas gradebook export at ``path``; ValueError when it is not one."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read the roster {path}: {error}") from None
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as error:
        raise ValueError(f"the roster {path} is not a CSV file: {error}") from None
    if not rows:
        raise ValueError(f"the roster {path} is empty")
    columns = [name.strip() for name in rows[0]]
    lacking = [name for name in ("Student", "ID", "Section") if name not in columns]
    if lacking or not set(MATCHED_BY) & set(columns):
        raise ValueError(
            f"the roster {path} is not a Canvas gradebook export: it lacks the column(s) "
            f"{', '.join(lacking or ['SIS Login ID'])} (export it from Canvas: Grades → Export)"
        )
    students, points = [], {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(columns):
            raise ValueError(f"the roster {path}, line {number}: more cells than columns")
        record = dict(zip(columns, [cell.strip() for cell in row], strict=False))
        if "Points Possible" in record.get("Student", ""):
            points = {name: value for name, value in record.items() if value}
        elif not _muted(record):
            students.append(record)
    return Roster(columns, students, points)


def _muted(record: dict) -> bool:
    """Canvas's 'Muted' / 'Manual Posting' row under the header: no student."""
    values = [value for value in record.values() if value]
    return bool(values) and all(
        value.lower() == "muted" or value.lower().startswith("manual posting") for value in values
    )


def read_grades(path: Path) -> list[Grade]:
    """grades.csv's rows as ``(student_id, score, max_score, status)``, read by column name.

    A graded row with written points not marked yet (``written_pending``) gets the status
    ``pending: N written points not marked`` so that no partial total goes to Canvas.
    """
    try:
        with Path(path).open(encoding="utf-8", newline="") as text:
            rows = list(csv.DictReader(text))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"cannot read {path}: {error}") from None
    grades = []
    for row in rows:
        try:
            score, maximum = float(row["score"]), float(row["max_score"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"{path}: a row without a numeric score and max_score: {row}"
            ) from None
        status = row.get("status") or "graded"
        pending = _float(row.get("written_pending"))
        if pending and final(status):
            status = f"pending: {pending:g} written points not marked"
        grades.append((row["student_id"], score, maximum, status))
    return grades


def _float(value: str | None) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0


CANVAS_CSV = "canvas.csv"


def run(args) -> int:
    """``aekit canvas``: write OUT/canvas.csv from OUT/grades.csv; 2 when it cannot."""
    out = Path(args.out)
    try:
        grades = read_grades(out / "grades.csv")
        text, notes = canvas_csv(grades, args.column, Path(args.roster) if args.roster else None)
        target = Path(args.to) if args.to else out / CANVAS_CSV
        write_whole(target, text)
    except (ValueError, OSError) as error:
        print(f"aekit canvas: {error}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"canvas: {note}")
    print(f"Canvas gradebook import: {target} (Grades > Import in Canvas)")
    return 0
