"""Grade a class: find the submissions, grade them in parallel, write every report.

    aekit grade ASSIGNMENT SUBMITTED_DIR --out OUT_DIR [--jobs N] [--device auto|cpu|cuda]
    aekit grade ASSIGNMENT path/to/notebook.ipynb --out OUT_DIR
    aekit grade ... --written OUT_DIR/written.csv     (merge the written answers' marks)
    aekit grade ... --shard K/N                       (one slice; see autograder.shards)

``SUBMITTED_DIR`` follows nbgrader's layout (``<student>/<assignment>/*.ipynb``); a notebook
directly in ``<student>/`` and notebooks directly in ``SUBMITTED_DIR`` are accepted too. A
student already graded (same notebook, same grader) is skipped unless ``force``. After the
students, :func:`finish` writes the class's files from OUT alone: grades.csv, the written
answers' sheet, run.json and the class report.
"""

import contextlib
import fcntl
import gc
import hashlib
import json
import os
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

import aekit
from autograder import class_report, loader, report, similarity, written
from autograder.assignments import COURSE_ROOT, Assignment
from autograder.discovery import Submission, discover
from autograder.engine import Grade, digest, failed_everywhere, grade_notebook
from autograder.output import printable, write_json
from autograder.reference import Reference
from autograder.sandbox import Limits
from autograder.sandbox.parent import allow_zygote, stop_zygote
from autograder.written import Written

GRADER_ERROR = "grader-error.txt"  # beside where results.json would be: what went wrong, in full
RUN = "run.json"  # in OUT: how the last run went (its options, fences, times, shard)
# Files the grader writes into OUT: no student may be named so.
LOCK = ".aekit-lock"  # held by the run writing to OUT (a hidden file: never a student)
RESERVED = {"grades.csv", RUN, written.SHEET, "report.html", "report.csv", "canvas.csv"}
# What decides a score besides the notebook: a change to any of these regrades every student.
SCORING_CODE = (
    "aekit/checks",
    "autograder/hidden",
    "autograder/sandbox",
    "autograder/engine.py",
    "autograder/loader.py",
    "autograder/assignments.py",
    "autograder/reference.py",
)


class OutputError(ValueError):
    """OUT cannot hold these grades (not writable, or another assignment's grades)."""


@dataclass(frozen=True)
class Row:
    """One line of the summary table and of grades.csv."""

    student: str
    score: float
    max_score: float
    seconds: float
    status: str
    fences: tuple[str, ...] = ()


def grader_key(reference: Reference, device: str, limits: Limits) -> str:
    """A digest of everything besides the notebook that decides a score: the checks' code, the
    reference notebook, the options that change scores."""
    digest_ = hashlib.sha256()
    for folder in SCORING_CODE:
        path = COURSE_ROOT / folder
        for found in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest_.update(found.relative_to(COURSE_ROOT).as_posix().encode() + b"\0")
            digest_.update(found.read_bytes())
    if reference.notebook is not None:
        digest_.update(Path(reference.notebook).read_bytes())
    options = {"aekit": aekit.__version__, "device": device, "limits": asdict(limits)}
    digest_.update(json.dumps(options, sort_keys=True).encode())
    return digest_.hexdigest()


def prepare_out(out: Path, assignment: str) -> None:
    """Create OUT; refuse one that cannot be written or holds another assignment's grades."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".aekit-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise OutputError(f"cannot write the reports to {out}: {error.strerror or error}") from None
    for results in sorted(out.glob("*/results.json")):
        other = _stored(results).get("assignment")
        if other and other != assignment:
            raise OutputError(
                f"{out} holds grades of {other} ({results.parent.name}/): grade each assignment "
                f"into a folder of its own, e.g. --out {out / assignment}"
            )


@contextlib.contextmanager
def writing_to(out: Path):
    """Hold OUT for this run alone. A second ``aekit grade`` or ``merge`` into the same folder
    is refused while the first writes, rather than interleave their grades, sheets and reports;
    the kernel drops the lock with the process, however it ends (flock(2)). Held already by
    this process (the command line holds it around grade_all), it is simply kept."""
    key = out.resolve()
    if key in _HELD:
        yield
        return
    handle = open(out / LOCK, "a")  # noqa: SIM115 - held open for the run, closed below
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise OutputError(
            f"another aekit grade or merge is writing to {out}: wait for it to end, or give "
            "another --out"
        ) from None
    _HELD.add(key)
    try:
        yield
    finally:
        _HELD.discard(key)
        handle.close()


_HELD: set[Path] = set()  # the OUT folders this process holds


def grade_all(
    target: Path,
    out: Path,
    reference: Reference,
    jobs: int = 1,
    device: str = "cpu",
    force: bool = False,
    limits: Limits = Limits(),
    progress: bool = True,
    shard: tuple[int, int] = (1, 1),
    similar: float = similarity.THRESHOLD,
) -> list[Row]:
    """Grade every submission under ``target`` (those of ``shard`` K of N) into ``out``;
    return the summary rows.

    On Ctrl-C the submissions being graded are dropped, not stored (a later run grades them),
    grades.csv is written for what was graded, and KeyboardInterrupt goes on up.
    """
    start = time.perf_counter()
    assignment = reference.assignment
    submissions = in_shard(discover(target, assignment.name), *shard)
    prepare_out(out, assignment.name)
    with writing_to(out):
        key = grader_key(reference, device, limits)
        refresh_written(out, assignment)  # marks merged since: the kept grades count them
        rows: list[Row] = []
        pending = []
        for submission in submissions:
            previous = None if force else _previous(submission, out, assignment, key)
            if previous is not None:
                rows.append(previous)
            else:
                pending.append(submission)
        stop = threading.Event()

        def work(submission: Submission) -> Row | None:
            if stop.is_set():
                return None
            if submission.student in RESERVED:
                why = (
                    f"refused: the student id {submission.student!r} is the name of a grader's file"
                )
                return Row(submission.student, 0.0, assignment.total_points, 0.0, why)
            try:
                grade = _grade(submission, reference, device, limits)
                grade.grader_key = key
                if stop.is_set():  # cut short by the interruption: never stored as a grade
                    return None
                folder = out / submission.student
                grade.written = _written_part(submission, assignment, folder)
                report.write_submission(grade, folder)
                (folder / GRADER_ERROR).unlink(missing_ok=True)
            except Exception as error:  # noqa: BLE001 - one submission never stops the batch
                return _grader_error(submission, assignment, out, error)
            fences = tuple(grade.fences)
            return Row(
                submission.student, grade.score, grade.possible, grade.seconds, grade.status, fences
            )

        bar = tqdm(
            total=len(pending),
            desc=f"grading {assignment.name}",
            unit="notebook",
            disable=not progress,
            file=sys.stderr,
        )
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            for future in as_completed([pool.submit(work, submission) for submission in pending]):
                if future.result() is not None:
                    rows.append(future.result())
                bar.update()
        except KeyboardInterrupt:
            stop.set()
            stop_zygote()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            allow_zygote()
            bar.close()
            rows.sort(key=lambda row: row.student)
            options = {"jobs": jobs, "device": device, "limits": asdict(limits)}
            run = _run_facts(assignment, rows, options, shard, time.perf_counter() - start)
            finish(out, assignment, reference.notebook, run, rows, similar)
        return rows


def in_shard(submissions: list[Submission], shard: int, shards: int) -> list[Submission]:
    """The submissions of shard ``shard`` of ``shards`` (numbered from 1): each student falls
    in one shard by a digest of their id, the same on every machine and whatever the others."""
    if shards == 1:
        return submissions
    return [s for s in submissions if _shard_of(s.student, shards) == shard]


def _shard_of(student: str, shards: int) -> int:
    return int(hashlib.sha256(student.encode()).hexdigest(), 16) % shards + 1


def finish(
    out: Path,
    assignment: Assignment,
    notebook: Path | None,
    run: dict,
    rows: list[Row] | tuple = (),
    similar: float = similarity.THRESHOLD,
) -> None:
    """What a batch writes from all of OUT once its students are graded (a merge of shards
    writes the same): grades.csv, the written-answers sheet, run.json and the class report
    (``notebook``: the source or release notebook, whose starter code the similarity of
    submissions leaves out). Every student's report already counts the marks merged."""
    _write_grades(out, assignment, list(rows))
    with contextlib.suppress(OSError):
        written.write_sheet(out, assignment.questions)
    _write_json(out / RUN, run)  # the class report reads it
    start = time.perf_counter()
    try:
        starter = class_report.starter_code(notebook) if notebook else {}
        class_report.write_class_report(out, assignment.name, starter, similar)
    except (OSError, ValueError) as error:  # the grades stand; the report says what it could
        print(f"aekit: the class report could not be written: {error}", file=sys.stderr)
    _write_json(out / RUN, {**run, "report_seconds": round(time.perf_counter() - start, 3)})


def _write_json(path: Path, found: dict) -> None:
    with contextlib.suppress(OSError):
        write_json(path, found)


def _run_facts(assignment, rows, options: dict, shard: tuple[int, int], seconds: float) -> dict:
    """run.json: the run's options and fences, and how many students it graded, kept (graded
    before), found ungradable (``error: ...``) and failed on (grader error, refused)."""
    kept = sum(row.status.startswith("kept") for row in rows)
    errors = sum(row.status.startswith(("grader error", "refused")) for row in rows)
    ungradable = sum(row.status.startswith("error") for row in rows)
    return {
        "assignment": assignment.name,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(seconds, 3),
        **options,
        "shard": f"{shard[0]}/{shard[1]}",
        "fences": list(dict.fromkeys(fence for row in rows for fence in row.fences)),
        "graded": len(rows) - kept - errors - ungradable,
        "kept": kept,
        "ungradable": ungradable,
        "grader_errors": errors,
    }


def _written_part(submission: Submission, assignment: Assignment, folder: Path) -> Written:
    """Keep the notebook's answers and solution cells in ``answers.json``; the written part
    of its grade, from them and the marks already merged."""
    document = {}
    if submission.notebook is not None:
        with contextlib.suppress(OSError, ValueError, loader.NotebookError):
            document = loader.read_document(submission.notebook)
    answers = written.collect(document, assignment.questions, assignment.exercises)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / written.ANSWERS, {"assignment": assignment.name, **answers})
    return written.part(assignment.questions, answers["written"], written.stored_marks(folder))


def refresh_written(out: Path, assignment: Assignment) -> int:
    """Rewrite the reports of every student whose written part changed (marks merged since
    the grade was stored, an answer that changed); the number rewritten."""
    rewritten = 0
    for path in sorted(out.glob("*/results.json")):
        try:
            grade = report.grade_from_results(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
        if grade.assignment != assignment.name:
            continue
        now = written.student_part(path.parent, assignment.questions)
        if grade.written is None or grade.written.as_dict() != now.as_dict():
            grade.written = now
            with contextlib.suppress(OSError):
                report.write_submission(grade, path.parent)
                rewritten += 1
    return rewritten


def _write_grades(out: Path, assignment: Assignment, rows: list[Row]) -> None:
    """grades.csv: every student graded into OUT for this assignment (earlier runs included,
    so notebooks graded one by one add up), and the students refused in this run."""
    found = {line.student: line for line in grade_lines(out, assignment)}
    for row in rows:
        if row.student not in found:
            found[row.student] = report.GradeLine(
                row.student, row.score, row.max_score, row.score, None, None, row.status
            )
    with contextlib.suppress(OSError):
        report.write_grades_csv(list(found.values()), out / "grades.csv")


def grade_lines(out: Path, assignment: Assignment) -> list[report.GradeLine]:
    """The grades.csv line of every student whose results.json in OUT is this assignment's."""
    lines = []
    for path in _graded(out):
        stored = _stored(path)
        if stored.get("assignment") == assignment.name and "score" in stored:
            part = stored.get("written") or {}
            lines.append(
                report.GradeLine(
                    path.parent.name,
                    stored["score"],
                    stored.get("max_score", assignment.total_points),
                    stored.get("autograded", stored["score"]),
                    part.get("score"),
                    part.get("pending"),
                    stored.get("status", "graded"),
                )
            )
    return lines


def _stored(path: Path) -> dict:
    """Score and extra_data of a results.json ({} when it cannot be read)."""
    try:
        results = json.loads(path.read_text())
        return {"score": float(results["score"]), **results.get("extra_data", {})}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _grader_error(submission: Submission, assignment: Assignment, out: Path, error) -> Row:
    """A submission the grader failed on: reported as such, never as a grade."""
    message = f"grader error: {type(error).__name__}: {error}"[:300]
    folder = out / submission.student
    with contextlib.suppress(OSError):
        (folder / "results.json").unlink(missing_ok=True)  # no stale grade
        folder.mkdir(exist_ok=True)
        trace = "".join(traceback.format_exception(error))
        (folder / GRADER_ERROR).write_text(f"{message}\n\n{trace}")
    return Row(submission.student, 0.0, assignment.total_points, 0.0, message)


def _grade(submission: Submission, reference: Reference, device: str, limits: Limits) -> Grade:
    if submission.notebook is None:
        assignment = reference.assignment
        grade = Grade(submission.student, assignment.name, "", max_score=assignment.max_score)
        grade.error = submission.problem
        grade.results = failed_everywhere(assignment, submission.problem or "no notebook")
        return grade
    grade = grade_notebook(submission.notebook, reference, submission.student, device, limits)
    if submission.note:
        grade.notes.insert(0, submission.note)
    return grade


def _previous(submission: Submission, out: Path, assignment: Assignment, key: str) -> Row | None:
    """The earlier result of this exact notebook by this exact grader, if there is one."""
    path = out / submission.student / "results.json"
    if submission.notebook is None or not path.exists():
        return None
    stored = _stored(path)
    try:
        same = (
            stored.get("sha256") == digest(submission.notebook)
            and stored.get("assignment") == assignment.name
            and stored.get("grader_key") == key
        )
    except OSError:
        return None
    if not same:
        return None
    status = stored.get("status", "graded")
    return Row(
        submission.student, stored["score"], float(stored["max_score"]), 0.0, f"kept ({status})"
    )


def summary_table(rows: list[Row]) -> str:
    """A plain-text table: one line per student, then the class mean."""
    students = [printable(row.student) for row in rows]  # what the terminal must not run
    width = max([len("student")] + [len(student) for student in students])
    lines = [f"{'student':<{width}}  {'score':>7}  {'max':>5}  {'time':>7}  status"]
    for row, student in zip(rows, students, strict=True):
        seconds = "      -" if row.status.startswith(("kept", "merged")) else f"{row.seconds:6.1f}s"
        status = printable(row.status)
        lines.append(f"{student:<{width}}  {row.score:7g}  {row.max_score:5g}  {seconds}  {status}")
    if rows:
        mean = sum(row.score for row in rows) / len(rows)
        count = f"{len(rows)} submission{'s' if len(rows) != 1 else ''}"
        lines.append(f"{count}, mean score {mean:.2f} / {rows[0].max_score:g}")
    return "\n".join(lines)


def elapsed_since(start: float) -> str:
    return f"{time.perf_counter() - start:.1f} s"


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device here")
    return device


def run(args) -> int:
    """``aekit grade``: grade, write reports, print the table; 0 when every submission was graded."""
    from autograder.assignments import UnknownAssignment, get_assignment
    from autograder.reference import ReferenceFailure, load_reference
    from autograder.sandbox import IsolationUnavailable, shared_zygote
    from autograder.sandbox.parent import WEAK_ENV

    start = time.perf_counter()
    target, out = Path(args.submitted), Path(args.out)
    if args.weak_isolation:
        os.environ[WEAK_ENV] = "1"
    held = contextlib.ExitStack()  # OUT, for this run alone
    try:
        assignment = get_assignment(args.assignment)
        if not target.exists():
            raise ValueError(f"{target} does not exist")
        if target.is_dir() and out.resolve().is_relative_to(target.resolve()):
            raise ValueError(f"--out {out} is inside {target}: its reports would be graded")
        discover(target, assignment.name)  # refuse what is not a submission before starting
        prepare_out(out, assignment.name)
        held.enter_context(writing_to(out))
        device = resolve_device(args.device)
        shard = parse_shard(args.shard)
        if not 0 <= args.similarity <= 1:
            raise ValueError(f"--similarity {args.similarity:g}: a share between 0 and 1")
        marks = (
            written.read_sheet(Path(args.written), out, assignment.questions)
            if args.written
            else None
        )
        notebook = reference_notebook(assignment, args.source)
        shared_zygote()  # a fresh interpreter, started before the reference is in memory
        reference = load_reference(assignment, notebook, device)
    except (UnknownAssignment, ValueError, ReferenceFailure, IsolationUnavailable) as error:
        held.close()
        print(f"aekit grade: {error}", file=sys.stderr)
        return 2
    with held:  # until the run ends, however it ends
        print(f"reference: {notebook}", file=sys.stderr)
        gc.freeze()  # torch and the reference live all run: no collection need walk them again
        class_report.prefetch()
        if marks is not None:
            given = written.merge(marks, out)
            print(f"written answers: {given} marks merged from {args.written}", file=sys.stderr)
        limits = Limits(check_seconds=args.timeout, submission_seconds=args.budget)
        try:
            rows = grade_all(
                target,
                out,
                reference,
                args.jobs,
                device,
                args.force,
                limits,
                progress=not args.quiet,
                shard=shard,
                similar=args.similarity,
            )
        except KeyboardInterrupt:
            print(
                "aekit grade: interrupted; the submissions being graded were not stored. Grades "
                f"so far are in {out / 'grades.csv'}; run the same command again to grade the "
                "rest.",
                file=sys.stderr,
            )
            return 130
        print(summary_table(rows))
        fences = list(dict.fromkeys(fence for row in rows for fence in row.fences))
        if fences:
            print(f"sandbox: {'; '.join(fences)}")
        print(written_summary(out, assignment))
        print(f"class report: {out / class_report.REPORT_HTML} (and {class_report.REPORT_CSV})")
        print(
            f"graded on {device} in {elapsed_since(start)}; feedback in "
            f"{out}/<student>/feedback.html, grades in {out / 'grades.csv'}"
        )
        return 0


def parse_shard(text: str | None) -> tuple[int, int]:
    """``K/N`` as (K, N), 1 <= K <= N; ValueError that says what is wrong."""
    if not text:
        return (1, 1)
    try:
        shard, shards = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text}: expected K/N, e.g. --shard 2/4") from None
    if not 1 <= shard <= shards:
        raise ValueError(f"--shard {text}: K must be between 1 and N")
    return shard, shards


def written_summary(out: Path, assignment: Assignment) -> str:
    """One line on the written answers of the class: where the sheet is, what is left."""
    if not assignment.questions:
        return "written answers: none in this assignment"
    parts = [written.student_part(path.parent, assignment.questions) for path in _graded(out)]
    left = sum(q["score"] is None for part in parts for q in part.questions)
    empty = sum(q["status"] in ("empty", "missing") for part in parts for q in part.questions)
    sheet = out / written.SHEET
    if not left:
        return f"written answers: all marked ({empty} empty); sheet in {sheet}"
    return (
        f"written answers: {left} to mark ({empty} empty ones marked 0): fill in points and "
        f"comments in {sheet}, then merge them with aekit grade {assignment.name} SUBMITTED "
        f"--out {out} --written {sheet} (students already graded are kept)"
    )


def _graded(out: Path) -> list[Path]:
    return sorted(out.glob("*/results.json"))


def reference_notebook(assignment: Assignment, source: str | None) -> Path:
    """The source notebook to grade against: ``--source``, else the course the command runs in
    (nbgrader's course root: ``source/<assignment>/<assignment>.ipynb`` here), else the kit's."""
    if source:
        path = Path(source)
        if path.is_dir():
            path = path / assignment.name / f"{assignment.name}.ipynb"
        if not path.is_file():
            raise ValueError(f"--source {source}: no source notebook {path}")
        return path.resolve()
    here = Path.cwd() / "source" / assignment.name / f"{assignment.name}.ipynb"
    return here.resolve() if here.is_file() else assignment.notebook
