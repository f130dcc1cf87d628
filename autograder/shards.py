"""Combine the folders of a class graded in shards into one, as if graded in one run.

    aekit grade ASSIGNMENT submitted/ --out out-K --shard K/N     (one job per K, anywhere)
    aekit merge ASSIGNMENT out-1 out-2 ... out-N --out OUT

Each shard grades a fixed slice of the students (:func:`autograder.batch.in_shard`), so a job
array (GitHub Actions' matrix, a Kubernetes Indexed Job, a SLURM array) runs it with its index.
The merge copies every student's folder into OUT, then writes from OUT what a batch writes at
its end (:func:`autograder.batch.finish`): grades.csv, the written-answers sheet, the class
report. Marks already merged into OUT (``written.json``) are kept. A student graded by two
shards, or shards of another assignment, are refused: nothing is written then.
"""

import shutil
import sys
import time
from pathlib import Path

from autograder import batch, similarity, written
from autograder.assignments import Assignment, get_assignment

STUDENT_FILES = ("results.json", "feedback.html", written.ANSWERS, batch.GRADER_ERROR)


class MergeError(ValueError):
    """The shards cannot be merged; the message says why."""


def merge(
    assignment: Assignment,
    shards: list[Path],
    out: Path,
    notebook: Path | None = None,
    similar: float = similarity.THRESHOLD,
) -> list[str]:
    """Merge ``shards`` into ``out``; the students merged, sorted. ``notebook`` is the one
    the shards were graded against (default: the assignment's source notebook)."""
    notebook = notebook or assignment.notebook
    students = _students(assignment, shards, out)
    batch.prepare_out(out, assignment.name)
    with batch.writing_to(out):
        for student, folder in sorted(students.items()):
            _copy_student(folder, out / student)
        batch.refresh_written(out, assignment)  # the shards' reports know nothing of OUT's marks
        batch.finish(out, assignment, notebook, _run_facts(assignment, shards), similar=similar)
    return sorted(students)


def _students(assignment: Assignment, shards: list[Path], out: Path) -> dict[str, Path]:
    """Every student folder of every shard, checked before anything is written."""
    if not shards:
        raise MergeError("no shard folders given")
    found: dict[str, Path] = {}
    for shard in shards:
        if not shard.is_dir():
            raise MergeError(f"{shard} is not a folder of graded students")
        if shard.resolve() == out.resolve():
            raise MergeError(f"--out {out} is one of the shards: merge into a new folder")
        ran = written.read_json(shard / batch.RUN)
        if ran.get("assignment") not in (None, assignment.name):
            raise MergeError(f"{shard} holds grades of {ran['assignment']}, not {assignment.name}")
        for folder in sorted(path for path in shard.iterdir() if _is_student(path)):
            if folder.name in found:
                raise MergeError(
                    f"{folder.name} was graded in two shards ({found[folder.name]} and {shard}): "
                    "each student belongs to one; were the shards run with the same N?"
                )
            found[folder.name] = folder
    return found


def _is_student(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith(".") and path.name not in batch.RESERVED


def _copy_student(source: Path, target: Path) -> None:
    """The shard's files of one student replace OUT's; OUT's marks stay."""
    target.mkdir(parents=True, exist_ok=True)
    for name in STUDENT_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)
        else:
            (target / name).unlink(missing_ok=True)  # e.g. a stale results.json of a grader error


def _run_facts(assignment: Assignment, shards: list[Path]) -> dict:
    runs = [written.read_json(shard / batch.RUN) for shard in shards]
    return {
        "assignment": assignment.name,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(sum(run.get("seconds", 0.0) for run in runs), 3),
        "shards": [{"folder": str(shard), **run} for shard, run in zip(shards, runs, strict=True)],
        "fences": list(dict.fromkeys(fence for run in runs for fence in run.get("fences", []))),
        **{
            key: sum(run.get(key, 0) for run in runs)
            for key in ("graded", "kept", "ungradable", "grader_errors")
        },
    }


def run(args) -> int:
    """``aekit merge``: merge, print the class table; 2 when the shards cannot be merged."""
    try:
        assignment = get_assignment(args.assignment)
        out = Path(args.out)
        source = batch.reference_notebook(assignment, args.source)
        students = merge(assignment, [Path(shard) for shard in args.shards], out, source)
    except (MergeError, batch.OutputError, ValueError) as error:
        print(f"aekit merge: {error}", file=sys.stderr)
        return 2
    rows = [
        batch.Row(line.student, line.score, line.max_score, 0.0, f"merged ({line.status})")
        for line in batch.grade_lines(out, assignment)
    ]
    print(batch.summary_table(rows))
    print(batch.written_summary(out, assignment))
    print(f"{len(students)} students from {len(args.shards)} shards merged into {out}")
    return 0
