"""The instructor's report on a graded class: ``OUT/report.html`` and ``OUT/report.csv``.

Both are built from the files in OUT alone (each student's ``results.json``,
``grader-error.txt`` and ``answers.json``, ``grades.csv``, ``run.json``), so the merged folders
of several shards give the same report as one run, and rebuilding it changes nothing.

``report.html`` is one self-contained page (its figures are embedded PNGs): the score
distribution; per exercise, the share of students with full, partial and no marks; the failed
checks ranked by how many students failed them, each with its commonest teaching messages and
who got them (the map from mistakes to the class); the students who could not be graded and
why, and those graded but worth a look; the pairs of near-identical submissions
(:mod:`autograder.similarity`); the run's fences, limits and timings. Every piece of student
text (ids, messages, statuses) is escaped. Statistics count the graded students only: a
notebook that could not be read fails every check with the same message, which says nothing
about the checks.

``report.csv`` has one row per check, most failed first (then in notebook order):

    rank, check, exercise, title, hidden, points, graded, failed, failed_share,
    commonest_message, commonest_count

``graded`` is the number of graded students with that check, ``failed`` how many of them
failed it, ``failed_share`` the ratio (3 decimals). Messages that differ only in their numbers
(the values a student's code returned) count as one message; ``commonest_message`` is its most
frequent wording. A text cell that a spreadsheet would run as a formula (``=``, ``+``, ``-``,
``@``) starts with a quote.
"""

import base64
import contextlib
import csv
import html
import importlib
import io
import json
import math
import re
import statistics
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from autograder import loader, similarity
from autograder.output import rich, spreadsheet_text, write_whole

REPORT_HTML = "report.html"
REPORT_CSV = "report.csv"
GRADER_ERROR = "grader-error.txt"  # as autograder.batch writes it (batch imports torch)
CSV_COLUMNS = (
    "rank",
    "check",
    "exercise",
    "title",
    "hidden",
    "points",
    "graded",
    "failed",
    "failed_share",
    "commonest_message",
    "commonest_count",
)
MESSAGES_SHOWN = 3  # message groups shown per failed check
CHECKS_SHOWN = 12  # failed checks shown open; the others are one click away
SLOWEST = 5  # students named in the timings
# nbgrader's solution delimiters (matched inside a line) and its Python code stub
# (ClearSolutions.begin_solution_delimeter, end_solution_delimeter, code_stub).
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


# --- what OUT holds -----------------------------------------------------------------------------


@dataclass
class Student:
    """One student folder (or grades.csv row) of OUT."""

    name: str
    status: str = ""
    score: float | None = None  # the autograded score
    tests: list[dict] = field(default_factory=list)
    seconds: float | None = None
    fences: tuple[str, ...] = ()
    written: dict | None = None
    code: dict[str, str] | None = None  # answers.json "code"
    problem: str | None = None  # why there is no grade

    @property
    def graded(self) -> bool:
        return self.problem is None and not self.status.startswith("error")


@dataclass
class ClassData:
    students: list[Student]
    run: dict | None
    run_problem: str | None
    grades_rows: dict[str, dict]


def read_class(out: Path, assignment: str) -> ClassData:
    """Every student folder of OUT, the students grades.csv names besides, and run.json."""
    grades_rows = _grades_rows(out / "grades.csv")
    folders = sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))
    students = [read_student(folder, assignment) for folder in folders]
    known = {student.name for student in students}
    for name, row in sorted(grades_rows.items()):
        if name not in known:
            status = row.get("status", "")
            students.append(
                Student(name, status, problem=f"no folder in OUT; grades.csv: {status}")
            )
    run, run_problem = _run(out / "run.json")
    return ClassData(students, run, run_problem, grades_rows)


def read_student(folder: Path, assignment: str) -> Student:
    """What a student's folder says: the grade, or why there is none."""
    student = Student(folder.name)
    results, error = _json(folder / "results.json")
    if results is None:
        if (folder / GRADER_ERROR).is_file():
            student.problem = _first_line(folder / GRADER_ERROR) or "grader error"
        else:
            student.problem = error or "no results.json"
        return student
    extra = results.get("extra_data") if isinstance(results.get("extra_data"), dict) else {}
    if extra.get("assignment") not in (None, assignment):
        student.problem = f"results.json is for {extra.get('assignment')}, not {assignment}"
        return student
    student.status = str(extra.get("status", "graded"))
    student.score = _number(extra.get("autograded", results.get("score")))
    tests = results.get("tests")
    student.tests = [test for test in tests if _is_test(test)] if isinstance(tests, list) else []
    student.seconds = _number(results.get("execution_time"))
    student.fences = tuple(map(str, extra.get("fences") or ()))
    student.written = extra.get("written") if isinstance(extra.get("written"), dict) else None
    if student.score is None or not isinstance(tests, list):
        student.problem = "results.json has no score or no tests"
    answers, _ = _json(folder / "answers.json")
    code = answers.get("code") if answers else None
    student.code = code if isinstance(code, dict) else None
    return student


def _json(path: Path) -> tuple[dict | None, str | None]:
    """The JSON object in ``path``, or None and why not."""
    if not path.is_file():
        return None, f"no {path.name}"
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return None, f"{path.name} cannot be read ({type(error).__name__})"
    if not isinstance(found, dict):
        return None, f"{path.name} is not a JSON object"
    return found, None


def _first_line(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as text:
            return text.readline().strip()[:300]
    except OSError:
        return ""


def _is_test(test) -> bool:
    return (
        isinstance(test, dict)
        and isinstance(test.get("name"), str)
        and _number(test.get("max_score")) is not None
    )


def _number(value) -> float | None:
    """A finite number from JSON or CSV, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _grades_rows(path: Path) -> dict[str, dict]:
    """grades.csv's rows by student id (read by column name; {} when absent or unreadable)."""
    try:
        with path.open(encoding="utf-8", newline="") as text:
            return {row["student_id"]: row for row in csv.DictReader(text) if row.get("student_id")}
    except (OSError, UnicodeDecodeError, csv.Error, KeyError):
        return {}


def _run(path: Path) -> tuple[dict | None, str | None]:
    """run.json, or None and what its absence means."""
    if not path.is_file():
        return None, "No run.json in OUT: the run's options, fences and times are unknown."
    return _json(path)


# --- statistics ---------------------------------------------------------------------------------


NOT_IMPLEMENTED = "is not implemented yet"  # the message of an exercise left as the stub


@dataclass
class CheckRow:
    """One check over the graded students."""

    name: str
    exercise: str
    title: str
    hidden: bool
    points: float
    graded: int = 0
    failed: list[str] = field(default_factory=list)  # students
    messages: dict[str, Counter] = field(default_factory=dict)  # message shape → wordings
    who: dict[str, list[str]] = field(default_factory=dict)  # message shape → students

    @property
    def share(self) -> float:
        return len(self.failed) / self.graded if self.graded else 0.0

    @property
    def mistakes(self) -> int:
        """Failures of students who attempted the exercise (not the stub left as released)."""
        return sum(
            sum(wordings.values())
            for shape, wordings in self.messages.items()
            if NOT_IMPLEMENTED not in shape
        )

    def groups(self) -> list[tuple[str, int, list[str]]]:
        """(commonest wording, count, students) per message shape, commonest first."""
        found = [
            (wordings.most_common(1)[0][0], sum(wordings.values()), self.who[shape])
            for shape, wordings in self.messages.items()
        ]
        return sorted(found, key=lambda group: -group[1])


def check_rows(students: list[Student]) -> list[CheckRow]:
    """Every check met in a graded student's results, in notebook order."""
    rows: dict[str, CheckRow] = {}
    for student in students:
        if not student.graded:
            continue
        for test in student.tests:
            if test["name"] not in rows:
                rows[test["name"]] = _check_row(test)
            row = rows[test["name"]]
            row.graded += 1
            if _failed(test):
                row.failed.append(student.name)
                message = str(test.get("output") or "(no message)")
                shape = _NUMBER.sub("#", message)
                row.messages.setdefault(shape, Counter())[message] += 1
                row.who.setdefault(shape, []).append(student.name)
    return list(rows.values())


def _check_row(test: dict) -> CheckRow:
    about = test.get("extra_data") if isinstance(test.get("extra_data"), dict) else {}
    exercise, _, title = test["name"].partition(": ")
    return CheckRow(
        test["name"],
        str(about.get("exercise") or exercise),
        str(about.get("title") or title or test["name"]),
        bool(about.get("hidden", False)),
        float(test["max_score"]),
    )


def _failed(test: dict) -> bool:
    if test.get("status") in ("passed", "failed"):
        return test["status"] == "failed"
    return (_number(test.get("score")) or 0.0) < float(test["max_score"])


def ranked(rows: list[CheckRow]) -> list[CheckRow]:
    """Most failed by students who attempted the exercise first (the stub left as released is
    no mistake), then most failed; ties in notebook order."""
    order = {row.name: index for index, row in enumerate(rows)}
    return sorted(rows, key=lambda row: (-row.mistakes, -len(row.failed), order[row.name]))


@dataclass(frozen=True)
class ExerciseRow:
    exercise: str
    points: float
    full: int
    partial: int
    none: int
    mean: float


def exercise_rows(students: list[Student]) -> list[ExerciseRow]:
    """Per exercise, how many graded students got full, partial and no marks."""
    scores: dict[str, list[tuple[float, float]]] = {}
    for student in students:
        if not student.graded:
            continue
        mine: dict[str, list[float]] = {}
        for test in student.tests:
            exercise = _check_row(test).exercise
            got = mine.setdefault(exercise, [0.0, 0.0])
            got[0] += _number(test.get("score")) or 0.0
            got[1] += float(test["max_score"])
        for exercise, (score, points) in mine.items():
            scores.setdefault(exercise, []).append((score, points))
    return [_exercise_row(exercise, found) for exercise, found in scores.items()]


def _exercise_row(exercise: str, found: list[tuple[float, float]]) -> ExerciseRow:
    points = max(possible for _, possible in found)
    full = sum(score >= possible - 1e-9 for score, possible in found)
    none = sum(score <= 1e-9 < possible for score, possible in found)
    mean = sum(score for score, _ in found) / len(found)
    return ExerciseRow(exercise, points, full, len(found) - full - none, none, mean)


def autograded_max(students: list[Student]) -> float:
    """The checks' points, as most graded students' results.json count them."""
    totals = Counter(
        round(sum(float(test["max_score"]) for test in student.tests), 6)
        for student in students
        if student.graded
    )
    return totals.most_common(1)[0][0] if totals else 0.0


# --- figures --------------------------------------------------------------------------------------

_GREEN, _ORANGE, _RED, _BLUE = "#2ca02c", "#ff9f1a", "#d62728", "#4c72b0"


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110)
    axis = figure.subplots()
    for side in ("top", "right"):
        axis.spines[side].set_visible(False)
    return figure, axis


def _png(figure) -> str:
    """The figure as a data: URI (a self-contained page)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def score_histogram(scores: list[float], maximum: float) -> str:
    """A histogram of the scores, one bar per point (the last bar includes full marks)."""
    import numpy as np

    top = max([maximum, *scores, 1.0])
    edges = np.arange(0.0, np.floor(top) + 1.0, 1.0)
    edges = edges if edges[-1] >= top else np.append(edges, top)
    figure, axis = _figure(7.5, 2.6)
    axis.hist(scores, bins=edges, color=_BLUE, edgecolor="white")
    axis.axvline(float(np.mean(scores)), color="#222", linestyle="--", linewidth=1)
    axis.set_xlim(0, top)
    axis.set_xlabel(f"score (out of {maximum:g}); dashed: the mean")
    axis.set_ylabel("students")
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.yaxis.get_major_locator().set_params(integer=True)
    return _png(figure)


def exercise_chart(rows: list[ExerciseRow]) -> str:
    """Per exercise, the shares of full, partial and no marks, as stacked bars."""
    figure, axis = _figure(7.5, 0.32 * len(rows) + 0.9)
    names = [row.exercise for row in rows][::-1]
    left = [0.0] * len(rows)
    for label, colour, part in (
        ("full marks", _GREEN, "full"),
        ("partial", _ORANGE, "partial"),
        ("none", _RED, "none"),
    ):
        shares = [getattr(row, part) / (row.full + row.partial + row.none) for row in rows][::-1]
        axis.barh(names, shares, left=left, color=colour, label=label, height=0.7)
        left = [a + b for a, b in zip(left, shares, strict=True)]
    axis.set_xlim(0, 1)
    axis.xaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
    axis.legend(ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return _png(figure)


# --- the page -------------------------------------------------------------------------------------


def _escape(text) -> str:
    return html.escape(str(text), quote=True)


def _names(students: list[str]) -> str:
    return ", ".join(f"<code>{_escape(name)}</code>" for name in students)


def _share(count: int, total: int) -> str:
    return f"{count} of {total} ({count / total:.0%})" if total else "0"


def scores_section(students: list[Student], maximum: float) -> str:
    graded = [student for student in students if student.graded]
    if not graded:
        return _section(
            "Scores", "<p>No student was graded: there is nothing to plot.</p>", "scores"
        )
    scores = sorted(student.score for student in graded)
    median = statistics.median(scores)
    full = sum(score >= maximum - 1e-9 for score in scores)
    facts = (
        f'<p class="facts"><b>{len(graded)}</b> graded &middot; mean <b>'
        f"{sum(scores) / len(scores):.2f}</b> &middot; median <b>{median:g}</b> &middot; "
        f"lowest {scores[0]:g}, highest {scores[-1]:g} &middot; full marks: "
        f"{_share(full, len(scores))} &middot; out of {maximum:g} (the checks' points)</p>"
    )
    image = f'<img alt="histogram of the scores" src="{score_histogram(scores, maximum)}">'
    return _section("Scores", facts + image + _written_note(graded), "scores")


def _written_note(graded: list[Student]) -> str:
    """A line on the written answers, where results.json carries them."""
    parts = [student.written for student in graded if student.written]
    if not parts:
        return ""
    pending = sum(1 for part in parts if _number(part.get("pending")))
    return (
        f"<p>Written answers ({_number(parts[0].get('max')) or 0:g} points, marked by hand) are "
        f"not in these scores; {pending} of {len(parts)} students still have points not "
        "marked.</p>"
    )


def exercises_section(rows: list[ExerciseRow]) -> str:
    if not rows:
        return ""
    lines = "".join(
        f"<tr><td><code>{_escape(row.exercise)}</code></td><td>{row.points:g}</td>"
        f"<td>{row.mean:.2f}</td><td>{_share(row.full, row.full + row.partial + row.none)}</td>"
        f"<td>{row.partial}</td><td>{row.none}</td></tr>"
        for row in rows
    )
    table = (
        "<table><tr><th>exercise</th><th>points</th><th>mean</th><th>full marks</th>"
        f"<th>partial</th><th>none</th></tr>{lines}</table>"
    )
    image = f'<img alt="share of full marks per exercise" src="{exercise_chart(rows)}">'
    return _section("Exercises", image + table, "exercises")


def mistakes_section(rows: list[CheckRow]) -> str:
    failed = [row for row in ranked(rows) if row.failed]
    if not failed:
        return _section(
            "Failed checks", "<p>Every graded student passed every check.</p>", "mistakes"
        )
    intro = (
        f"<p>{len(failed)} checks failed by at least one graded student, the commonest mistakes "
        "first (an exercise left as released is no mistake: it counts after), with the messages "
        "students read (messages that differ only in their numbers count as one; <i>who</i> "
        "lists the students).</p>"
    )
    shown = "".join(map(_mistake, failed[:CHECKS_SHOWN]))
    rest = failed[CHECKS_SHOWN:]
    if rest:
        shown += (
            f'<details class="rest"><summary>{len(rest)} more failed check'
            f"{'s' if len(rest) > 1 else ''}</summary>{''.join(map(_mistake, rest))}</details>"
        )
    return _section("Failed checks", intro + shown, "mistakes")


def _mistake(row: CheckRow) -> str:
    hidden = ' <span class="tag">hidden</span>' if row.hidden else ""
    groups = row.groups()
    items = "".join(
        f'<li><span class="count">{count}&times;</span> <span class="message">{rich(wording)}'
        f"</span><details><summary>who</summary>{_names(who)}</details></li>"
        for wording, count, who in groups[:MESSAGES_SHOWN]
    )
    rest = len(groups) - MESSAGES_SHOWN
    more = (
        f'<p class="more">and {rest} other message{"s" if rest > 1 else ""}</p>' if rest > 0 else ""
    )
    bar = f'<span class="bar"><span style="width:{row.share:.0%}"></span></span>'
    return (
        f"<article><h3><code>{_escape(row.exercise)}</code> {_escape(row.title)}{hidden}</h3>"
        f'<p class="failed">{bar} failed by {_share(len(row.failed), row.graded)} '
        f"&middot; {row.points:g} point{'s' if row.points != 1 else ''}</p>"
        f"<ul>{items}</ul>{more}</article>"
    )


def students_section(students: list[Student]) -> str:
    """The students without a grade, grouped by why; those graded but flagged for a look."""
    missing = [student for student in students if not student.graded]
    flagged = [s for s in students if s.graded and s.status.startswith("check")]
    text = (
        f"<p>{len(missing)} student{'s' if len(missing) != 1 else ''} without a grade:</p>"
        + _by_reason({s.name: s.problem or s.status for s in missing})
        if missing
        else "<p>Every student in OUT was graded.</p>"
    )
    if flagged:
        text += "<h3>Graded, worth a look</h3>" + _by_reason({s.name: s.status for s in flagged})
    return _section("Students not graded", text, "ungraded")


def _by_reason(reasons: dict[str, str]) -> str:
    """A table of reasons, each with its students, the commonest first."""
    grouped: dict[str, list[str]] = {}
    for name, reason in reasons.items():  # "no notebook in ada/": one reason for all students
        grouped.setdefault(reason.replace(name, "<student>"), []).append(name)
    rows = "".join(
        f"<tr><td>{_escape(reason)}</td><td>{len(names)}</td><td>{_names(names)}</td></tr>"
        for reason, names in sorted(grouped.items(), key=lambda item: -len(item[1]))
    )
    return f"<table><tr><th>why</th><th>students</th><th>who</th></tr>{rows}</table>"


def similarity_section(
    found: similarity.Similarity | None, without_code: int, has_starter: bool
) -> str:
    if found is None:
        why = (
            "No student folder has an answers.json with code"
            if has_starter
            else "The starter code was not given (without it an untouched notebook would match "
            "every other)"
        )
        return _section("Similar submissions", f"<p>{why}: nothing was compared.</p>", "similar")
    intro = (
        f"<p>Pairs whose own code (solution cells minus the starter, names, comments and layout "
        f"ignored) is at least {found.threshold:.0%} shared. A reason to open both notebooks, "
        f"<b>never a penalty</b>: short canonical solutions can match by chance. "
        f"{len(found.compared)} students compared; {len(found.too_little)} with too little own "
        f"code to compare (untouched or only common code)"
        + (f"; {without_code} without answers.json" if without_code else "")
        + (f"; {found.common} fingerprints of common code ignored" if found.common else "")
        + ".</p>"
    )
    if found.compared and not found.common:  # a small class: nothing counts as common
        intro += (
            f"<p>With {len(found.compared)} students compared, no code is common enough to be "
            "ignored: two complete, correct notebooks may well match.</p>"
        )
    if not found.pairs:
        return _section(
            "Similar submissions", intro + "<p>No pair reaches the threshold.</p>", "similar"
        )
    rows = "".join(
        f"<tr><td><code>{_escape(pair.first)}</code></td><td><code>{_escape(pair.second)}</code>"
        f"</td><td><b>{pair.similarity:.0%}</b></td><td>{pair.shares[0]:.0%} / "
        f"{pair.shares[1]:.0%}</td><td>{pair.shared}</td></tr>"
        for pair in found.pairs
    )
    table = (
        "<table><tr><th>student</th><th>student</th><th>similarity</th><th>share of each one's "
        f"own code</th><th>characters in common</th></tr>{rows}</table>"
    )
    return _section("Similar submissions", intro + table, "similar")


def run_section(data: ClassData) -> str:
    parts = [_run_facts(data.run) if data.run else f"<p>{_escape(data.run_problem)}</p>"]
    parts.append(_fences(data))
    parts.append(_timings(data.students))
    parts.append(_grades_check(data))
    return _section("The run", "".join(part for part in parts if part), "run")


def _run_facts(run: dict) -> str:
    keys = (
        "finished",
        "seconds",
        "jobs",
        "device",
        "shard",
        "graded",
        "kept",
        "ungradable",
        "grader_errors",
    )
    cells = "".join(
        f"<tr><th>{_escape(key)}</th><td>{_escape(run[key])}</td></tr>"
        for key in keys
        if key in run
    )
    limits = run.get("limits") if isinstance(run.get("limits"), dict) else {}
    cells += "".join(
        f"<tr><th>limit: {_escape(key)}</th><td>{_escape(value)}</td></tr>"
        for key, value in limits.items()
    )
    shards = run.get("shards") if isinstance(run.get("shards"), list) else []
    if shards:
        cells += f"<tr><th>shards</th><td>{len(shards)} merged</td></tr>"
    return f'<table class="facts">{cells}</table>'


def _fences(data: ClassData) -> str:
    """The run's fences, and any student graded behind other fences."""
    run_fences = data.run.get("fences") if data.run else None
    sets = Counter(student.fences for student in data.students if student.graded)
    listed = (
        list(run_fences)
        if isinstance(run_fences, list)
        else (list(sets.most_common(1)[0][0]) if sets else [])
    )
    text = "<h3>Fences</h3>" + (
        '<ul class="fences">' + "".join(f"<li>{_escape(f)}</li>" for f in listed) + "</ul>"
        if listed
        else "<p>No fence is recorded.</p>"
    )
    others = [(fences, count) for fences, count in sets.items() if list(fences) != listed]
    for fences, count in others:
        lacking = [fence for fence in listed if fence not in fences] or ["(other fences)"]
        text += (
            f'<p class="warning">{count} student{"s" if count > 1 else ""} graded without: '
            f"{_escape('; '.join(lacking))}</p>"
        )
    return text


def _timings(students: list[Student]) -> str:
    timed = sorted(
        ((s.seconds, s.name) for s in students if s.graded and s.seconds is not None),
        reverse=True,
    )
    if not timed:
        return ""
    seconds = sorted(value for value, _ in timed)
    share = seconds[min(len(seconds) - 1, int(0.9 * len(seconds)))]
    slowest = ", ".join(
        f"<code>{_escape(name)}</code> {value:.1f} s" for value, name in timed[:SLOWEST]
    )
    return (
        f"<h3>Timings</h3><p>Grading one notebook: median {seconds[len(seconds) // 2]:.2f} s, "
        f"90 % within {share:.2f} s, longest {seconds[-1]:.2f} s; in all {sum(seconds):.1f} s "
        f"of grading. Slowest: {slowest}.</p>"
    )


def _grades_check(data: ClassData) -> str:
    """Students graded in OUT that grades.csv lacks (a merge or a run not finished)."""
    graded = [s.name for s in data.students if s.graded]
    missing = [name for name in graded if name not in data.grades_rows]
    if not missing:
        return ""
    return (
        f'<p class="warning">grades.csv lacks {len(missing)} graded student'
        f"{'s' if len(missing) > 1 else ''}: {_names(missing[:20])}"
        f"{' …' if len(missing) > 20 else ''}</p>"
    )


def _section(title: str, body: str, anchor: str) -> str:
    return f'<section id="{anchor}"><h2>{_escape(title)}</h2>{body}</section>'


def page(
    assignment: str, data: ClassData, found: similarity.Similarity | None, has_starter: bool
) -> str:
    students, rows = data.students, check_rows(data.students)
    maximum = autograded_max(students)
    graded = sum(student.graded for student in students)
    without_code = sum(1 for s in students if s.graded and s.code is None)
    sections = [
        scores_section(students, maximum),
        exercises_section(exercise_rows(students)),
        mistakes_section(rows),
        students_section(students),
        similarity_section(found, without_code, has_starter),
        run_section(data),
    ]
    lede = (
        f"{len(students)} student{'s' if len(students) != 1 else ''} in OUT, {graded} graded, "
        f"{len(students) - graded} not graded"
    )
    return _PAGE.format(
        title=_escape(f"{assignment}: class report"),
        assignment=_escape(assignment),
        lede=_escape(lede),
        sections="".join(sections),
    )


# --- the CSV and the entry point ----------------------------------------------------------------


def report_csv(rows: list[CheckRow]) -> str:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(CSV_COLUMNS)
    for rank, row in enumerate(ranked(rows), start=1):
        groups = row.groups()
        message, count = (groups[0][0], groups[0][1]) if groups else ("", 0)
        writer.writerow(
            [
                rank,
                spreadsheet_text(row.name),
                spreadsheet_text(row.exercise),
                spreadsheet_text(row.title),
                "yes" if row.hidden else "no",
                f"{row.points:g}",
                row.graded,
                len(row.failed),
                f"{row.share:.3f}",
                spreadsheet_text(message),
                count,
            ]
        )
    return text.getvalue()


def prefetch() -> None:
    """Import what the report needs (copydetect, which imports matplotlib: about 0.9 s) in a
    thread of its own, while the class is graded: the grader mostly waits for its children."""

    def imports() -> None:
        with contextlib.suppress(Exception):  # the report imports them again, and says why not
            importlib.import_module("copydetect")
            importlib.import_module("matplotlib.figure")

    threading.Thread(target=imports, name="aekit-report-imports", daemon=True).start()


def write_class_report(
    out: Path, assignment: str, starter: dict[str, str], threshold: float = similarity.THRESHOLD
) -> tuple[Path, Path]:
    """Write ``OUT/report.html`` and ``OUT/report.csv`` from the files in OUT; their paths.

    ``starter`` maps each exercise's grade_id to the code the release notebook gives (see
    :func:`starter_code`): excluded from the similarity of submissions. ``threshold`` is the
    similarity (in [0, 1]) that flags a pair.
    """
    out = Path(out)
    data = read_class(out, assignment)
    codes = {s.name: s.code for s in data.students if s.graded and s.code is not None}
    # Without the starter every untouched notebook would look like every other: no comparison.
    found = similarity.find_similar(codes, starter, threshold) if codes and starter else None
    html_path, csv_path = out / REPORT_HTML, out / REPORT_CSV
    write_whole(html_path, page(assignment, data, found, bool(starter)))
    write_whole(csv_path, report_csv(check_rows(data.students)))
    return html_path, csv_path


# --- the starter code ---------------------------------------------------------------------------


def starter_code(notebook: Path) -> dict[str, str]:
    """The code each solution code cell gives students, by grade_id.

    Given a release notebook, its solution code cells as they are; given a source notebook
    (one with ``### BEGIN SOLUTION`` regions), its solution code cells with each region
    replaced as ``nbgrader generate_assignment`` does: the region, delimiters included, becomes
    nbgrader's stub at the delimiter's indentation, and a solution cell without a region
    becomes the stub. :class:`autograder.loader.NotebookError` when the file is unreadable,
    ValueError on a nested or unterminated region.
    """
    cells = _solution_cells(loader.read_document(notebook))
    if not any(BEGIN_SOLUTION in source for source in cells.values()):
        return cells
    return {grade_id: cleared(source, grade_id) for grade_id, source in cells.items()}


def _solution_cells(document: dict) -> dict[str, str]:
    found = {}
    for cell in document.get("cells") or []:
        meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
        if cell.get("cell_type") == "code" and meta.get("solution") and meta.get("grade_id"):
            source = cell.get("source", "")
            found[meta["grade_id"]] = "".join(source) if isinstance(source, list) else str(source)
    return found


def cleared(source: str, grade_id: str = "") -> str:
    """``source`` with its solution regions replaced by the stub (nbgrader's ClearSolutions)."""
    kept, inside, replaced = [], False, False
    for line in source.split("\n"):
        if BEGIN_SOLUTION in line:
            if inside:
                raise ValueError(f"cell {grade_id}: a BEGIN SOLUTION inside another")
            inside = replaced = True
            indent = re.match(r"\s*", line).group(0)
            kept += [indent + stub for stub in CODE_STUB.split("\n")]
        elif END_SOLUTION in line:
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise ValueError(f"cell {grade_id}: a BEGIN SOLUTION without its END SOLUTION")
    return "\n".join(kept) if replaced else CODE_STUB


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
header {{ border-bottom: 2px solid #ddd; margin-bottom: 1.5rem; }}
nav a {{ margin-right: 1rem; color: #4c72b0; text-decoration: none; }}
section {{ border-left: 6px solid #ccc; padding: 0.2rem 1rem 0.6rem; margin: 1.2rem 0; background: #fafafa; }}
section#mistakes {{ border-color: #d62728; }} section#similar {{ border-color: #ff9f1a; }}
section#ungraded {{ border-color: #888; }}
h2 {{ font-size: 1.2rem; }} h3 {{ font-size: 1rem; margin: 0.8rem 0 0.3rem; }}
img {{ max-width: 100%; display: block; margin: 0.5rem 0; }}
table {{ border-collapse: collapse; margin: 0.5rem 0; font-size: 0.92rem; }}
td code {{ white-space: nowrap; }} td {{ overflow-wrap: anywhere; }}
th, td {{ text-align: left; padding: 0.2rem 0.8rem 0.2rem 0; border-bottom: 1px solid #e4e4e4; vertical-align: top; }}
table.facts th {{ font-weight: 500; color: #555; }}
article {{ background: #fff; border: 1px solid #e4e4e4; border-radius: 4px; padding: 0.1rem 0.8rem 0.4rem; margin: 0.7rem 0; }}
article ul {{ list-style: none; padding-left: 0; margin: 0.3rem 0; }} article li {{ margin: 0.4rem 0; }}
.failed {{ margin: 0.2rem 0; color: #444; }}
.bar {{ display: inline-block; width: 8rem; height: 0.7rem; background: #eee; border-radius: 3px; vertical-align: middle; }}
.bar span {{ display: block; height: 100%; background: #d62728; border-radius: 3px; }}
.count {{ display: inline-block; min-width: 2.2rem; font-weight: 600; }}
.message {{ background: #fff4f4; border-radius: 4px; padding: 0.1rem 0.4rem; }}
article details {{ display: inline; margin-left: 0.4rem; font-size: 0.85rem; color: #555; }}
article summary {{ display: inline; cursor: pointer; color: #4c72b0; }}
details.rest > summary {{ cursor: pointer; color: #4c72b0; margin: 0.6rem 0; }}
.more {{ color: #777; font-size: 0.85rem; margin: 0.2rem 0; }}
.tag {{ font-size: 0.75rem; color: #777; border: 1px solid #ccc; border-radius: 3px; padding: 0 0.3rem; font-weight: 400; }}
.warning {{ background: #fff4e0; border-radius: 4px; padding: 0.3rem 0.5rem; }}
ul.fences {{ columns: 2; font-size: 0.9rem; }}
</style></head>
<body><header><h1>{assignment}: class report</h1><p>{lede}</p>
<nav><a href="#scores">Scores</a><a href="#exercises">Exercises</a><a href="#mistakes">Failed checks</a>
<a href="#ungraded">Not graded</a><a href="#similar">Similar submissions</a><a href="#run">The run</a></nav></header>
{sections}
<footer><p>Built from the files in this folder only; <code>report.csv</code> holds one row per
check, most failed first.</p></footer>
</body></html>
"""
