"""What grading writes: results.json (Gradescope's format), feedback.html and grades.csv.

Feedback shows each check's title and, for a failed check, the message that names the likely
mistake; it never contains test code, and every message is escaped and cut to a few lines.
"""

import csv
import html
import io
from pathlib import Path
from typing import NamedTuple

import aekit
from autograder.engine import CheckResult, Grade
from autograder.output import cut, printable, rich, write_json, write_whole
from autograder.written import Written

VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")  # Gradescope's


def results_json(grade: Grade, hidden_checks: str = "visible") -> dict:
    """The submission's results in Gradescope's autograder format; ``hidden_checks`` is the
    Gradescope visibility of the hidden checks (until then the summary leaves them out too, so
    it shows no total that counts them)."""
    tests = []
    for number, result in enumerate(grade.results, start=1):
        tests.append(
            {
                "name": result.name,
                "number": str(number),
                "score": result.score,
                "max_score": result.points,
                "status": "passed" if result.passed else "failed",
                "output": cut(result.message),
                "visibility": hidden_checks if result.hidden else "visible",
                "extra_data": {
                    "exercise": result.exercise,
                    "check": result.name,
                    "title": result.title,
                    "hidden": result.hidden,
                },
            }
        )
    return {
        "score": grade.score,
        "execution_time": round(grade.seconds, 3),
        "output": summary_text(grade, hidden_shown=hidden_checks == "visible"),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "student_id": grade.student,
            "assignment": grade.assignment,
            "notebook": grade.notebook,
            "sha256": grade.digest,
            "max_score": grade.possible,
            "grader": f"aekit {aekit.__version__}",
            "grader_key": grade.grader_key,
            "status": grade.status,
            "fences": list(grade.fences),
            "autograded": grade.autograded,
            "written": grade.written.as_dict() if grade.written else None,
            "error": grade.error,
            "flag": grade.flag,
            "notes": [cut(note, 300) for note in grade.notes[:20]],
        },
    }


def grade_from_results(results: dict) -> Grade:
    """The :class:`Grade` a results.json of this grader was written from (what the feedback
    page and a new written part need); ValueError when it is not one."""
    try:
        extra = results["extra_data"]
        grade = Grade(
            extra["student_id"],
            extra["assignment"],
            extra["notebook"],
            results=[_result_of(test) for test in results["tests"]],
            notes=list(extra["notes"]),
            fences=list(extra["fences"]),
            error=extra["error"],
            seconds=float(results["execution_time"]),
            digest=extra["sha256"],
            max_score=sum(float(test["max_score"]) for test in results["tests"]),
            grader_key=extra["grader_key"],
            flag=extra["flag"],
        )
        grade.written = Written.from_dict(extra["written"]) if extra["written"] else None
        return grade
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"not a results.json of this grader ({error!r})") from None


def _result_of(test: dict) -> CheckResult:
    about = test["extra_data"]
    return CheckResult(
        about["check"],
        about["exercise"],
        about["title"],
        float(test["max_score"]),
        test["status"] == "passed",
        test["output"],
        bool(about["hidden"]),
    )


def summary_text(grade: Grade, hidden_shown: bool = True) -> str:
    """The score, then one line per exercise (the public checks' only, while the hidden checks
    are not shown), the written answers and the loading notes."""
    if hidden_shown:
        lines = [f"{grade.assignment}: {grade.score:g} / {grade.possible:g} points"]
    else:
        lines = [f"{grade.assignment}: public checks (the hidden checks' points come later)"]
    if grade.error:
        lines.append(grade.error)
    for exercise in dict.fromkeys(result.exercise for result in grade.results):
        shown = [
            r for r in grade.results if r.exercise == exercise and (hidden_shown or not r.hidden)
        ]
        score, points = sum(r.score for r in shown), sum(r.points for r in shown)
        lines.append(f"  {exercise}: {score:g} / {points:g}")
    if grade.written:
        lines.append(written_line(grade.written))
    if grade.notes:
        lines.append("While loading the notebook:")
        lines += [f"  {cut(note, 200)}" for note in grade.notes[:20]]
    return "\n".join(lines)


def written_line(written: Written) -> str:
    """One line on the written answers: their points, marked or pending."""
    if written.elsewhere:
        return (
            f"  written answers: {written.max:g} points, marked by hand on {written.elsewhere} "
            "(not counted above)"
        )
    if written.pending:
        return (
            f"  written answers: {written.score:g} / {written.max:g} so far; "
            f"{written.pending:g} points not marked yet (a teaching assistant marks them)"
        )
    return f"  written answers: {written.score:g} / {written.max:g}"


def feedback_html(grade: Grade) -> str:
    """A self-contained page: the score, then each exercise with its checks."""
    sections = []
    for exercise in dict.fromkeys(result.exercise for result in grade.results):
        results = [result for result in grade.results if result.exercise == exercise]
        score = sum(result.score for result in results)
        points = sum(result.points for result in results)
        failed = {result.message for result in results if not result.passed}
        shared = failed.pop() if len(failed) == 1 and len(results) > 1 else None
        rows = "".join(_check_row(result, show=shared is None) for result in results)
        state = "full" if score == points else "none" if score == 0 else "part"
        once = f'<div class="message">{rich(shared)}</div>' if shared else ""
        sections.append(
            f'<section class="{state}"><h2><code>{html.escape(exercise)}</code>'
            f'<span class="points">{score:g} / {points:g}</span></h2>{once}<ul>{rows}</ul></section>'
        )
    notes = ""
    if grade.error or grade.notes:
        items = "".join(
            f"<li>{html.escape(cut(note, 300))}</li>"
            for note in ([grade.error] if grade.error else []) + grade.notes[:20]
        )
        notes = f'<section class="notes"><h2>Notes on your notebook</h2><ul>{items}</ul></section>'
    if grade.written:
        sections.append(_written_section(grade.written))
    return _PAGE.format(
        title=html.escape(f"{grade.assignment}: feedback for {grade.student}"),
        assignment=html.escape(grade.assignment),
        student=html.escape(grade.student),
        score=f"{grade.score:g}",
        max_score=f"{grade.possible:g}",
        pending=_pending(grade.written),
        notes=notes,
        sections="".join(sections),
    )


def _pending(written: Written | None) -> str:
    if written is None or not written.pending:
        return ""
    if written.elsewhere:
        what = f"{written.max:g} more points for the written answers, marked on {written.elsewhere}"
    else:
        what = f"{written.pending:g} points of written answers not marked yet"
    return f'<p class="pending">+ {html.escape(what)}</p>'


def _written_section(written: Written) -> str:
    """The written answers: each question's mark and the teaching assistant's comment."""
    if written.elsewhere:
        return (
            f'<section class="notes"><h2>Written answers<span class="points">{written.max:g} '
            f"points</span></h2><p>Marked by hand on {html.escape(written.elsewhere)}, not by "
            "this autograder.</p></section>"
        )
    rows = []
    for question in written.questions:
        marked = question["score"] is not None
        score = f"{question['score']:g}" if marked else "–"
        state = "" if marked else ' <span class="tag">not marked yet</span>'
        comment = question["comment"]
        said = f'<div class="comment">{html.escape(cut(comment))}</div>' if comment else ""
        rows.append(
            f"<li>{html.escape(question.get('title') or question['id'])} <b>{score} / "
            f"{question['points']:g}</b>{state}{said}</li>"
        )
    points = f"{written.score:g} / {written.max:g}"
    state = "notes" if written.pending else "full" if written.score == written.max else "part"
    return (
        f'<section class="{state}"><h2>Written answers<span class="points">{points}</span></h2>'
        f"<ul>{''.join(rows)}</ul></section>"
    )


def _check_row(result, show: bool = True) -> str:
    """One check; its message unless the exercise shows one message for all its checks."""
    mark, css = ("✓", "pass") if result.passed else ("✗", "fail")
    hidden = ' <span class="tag">hidden check</span>' if result.hidden else ""
    message = (
        "" if result.passed or not show else f'<div class="message">{rich(result.message)}</div>'
    )
    return f'<li class="{css}"><span class="mark">{mark}</span> {html.escape(result.title)}{hidden}{message}</li>'


def write_submission(grade: Grade, folder: Path) -> None:
    """``feedback.html`` then ``results.json`` in ``folder``, each written whole or not at all
    (results.json last: its presence means the grade is complete)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_whole(folder / "feedback.html", feedback_html(grade))
    write_json(folder / "results.json", results_json(grade))


class GradeLine(NamedTuple):
    """One student's line of grades.csv; ``written`` and ``pending`` are None where the
    written answers are not counted (no results.json to say)."""

    student: str
    score: float
    max_score: float
    autograded: float
    written: float | None
    pending: float | None
    status: str


GRADES_COLUMNS = ("student_id", "score", "max_score", "autograded", "written", "written_pending")


def write_grades_csv(lines: list[GradeLine], path: Path) -> None:
    """One row per student, sorted by id: the score (checks and marked written answers) out of
    the assignment's points, its two parts, the written points not marked yet, the status."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([*GRADES_COLUMNS, "status"])
    for line in sorted(lines):
        numbers = (line.score, line.max_score, line.autograded, line.written, line.pending)
        writer.writerow(
            [
                line.student,
                *("" if n is None else f"{n:g}" for n in numbers),
                printable(line.status),
            ]
        )
    write_whole(path, text.getvalue())


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
header {{ border-bottom: 2px solid #ddd; margin-bottom: 1.5rem; }}
.total {{ font-size: 2rem; font-weight: 600; }}
section {{ border-left: 6px solid #ccc; padding: 0.2rem 1rem; margin: 1rem 0; background: #fafafa; }}
section.full {{ border-color: #2ca02c; }} section.part {{ border-color: #ff9f1a; }}
section.none {{ border-color: #d62728; }} section.notes {{ border-color: #888; }}
h2 {{ font-size: 1.1rem; display: flex; justify-content: space-between; }}
ul {{ list-style: none; padding-left: 0; }} li {{ margin: 0.35rem 0; }}
.mark {{ display: inline-block; width: 1.2rem; font-weight: 700; }}
.pass .mark {{ color: #2ca02c; }} .fail .mark {{ color: #d62728; }}
.message {{ margin: 0.2rem 0 0.4rem 1.2rem; padding: 0.4rem 0.6rem; background: #fff4f4; border-radius: 4px; }}
.comment {{ margin: 0.2rem 0 0.4rem 1.2rem; padding: 0.4rem 0.6rem; background: #f2f6ff; border-radius: 4px; }}
.pending {{ color: #555; margin-top: -0.5rem; }}
.tag {{ font-size: 0.75rem; color: #777; border: 1px solid #ccc; border-radius: 3px; padding: 0 0.3rem; }}
</style></head>
<body><header><h1>{assignment}</h1><p>Student: <code>{student}</code></p>
<p class="total">{score} / {max_score}</p>{pending}</header>
{notes}{sections}
<footer><p>Each exercise is graded on its own: a mistake in one exercise costs no points in another.
Hidden checks test cases you did not see; their messages still say what to fix.</p></footer>
</body></html>
"""
