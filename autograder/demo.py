"""``aekit demo``: what the kit does for an instructor, in a minute or two on a CPU.

1. generate the student and solution notebooks from source/ with nbgrader;
2. make sample submissions in nbgrader's submitted/ layout: a perfect student, one who
   handed in the untouched release, one with typical mistakes, and an unreadable file;
3. grade them with the sandboxed batch grader, exactly as ``aekit grade`` does;
4. print the table and where the feedback is.
"""

import shutil
import time
from pathlib import Path

from autograder import samples
from autograder.assignments import ASSIGNMENTS, COURSE_ROOT, get_assignment
from autograder.batch import grade_all, summary_table
from autograder.reference import load_reference
from autograder.release import generate
from autograder.sandbox import shared_zygote


def make_submissions(course: Path, assignment: str) -> None:
    """Four students in ``course/submitted``, from the freshly generated notebooks."""
    submitted = course / "submitted"
    samples.write(samples.load("solutions", assignment, course), submitted, "ada", assignment)
    samples.write(samples.load("release", assignment, course), submitted, "bert", assignment)
    samples.write(samples.with_mistakes(assignment, course), submitted, "chloe", assignment)
    samples.write("{ an interrupted upload", submitted, "dmitri", assignment, "homework.ipynb")


def run(args) -> int:
    start = time.perf_counter()
    course = Path(args.out).resolve()
    shutil.rmtree(course, ignore_errors=True)
    names = [name for name in ASSIGNMENTS if (COURSE_ROOT / "source" / name).exists()]
    print(f"1. Generating student and solution notebooks for {', '.join(names)} with nbgrader...")
    errors = generate(names, course)
    if errors:
        print("\n".join(errors))
        return 1
    shared_zygote()
    for name in names:
        make_submissions(course, name)
    for step, name in enumerate(names, start=2):
        print(
            f"\n{step}. Grading {name}: ada (solution), bert (untouched), chloe (typical mistakes), dmitri (unreadable)"
        )
        out = course / "graded" / name
        rows = grade_all(
            course / "submitted", out, load_reference(get_assignment(name)), jobs=2, progress=False
        )
        print(summary_table(rows))
        print(f"   feedback: {out}/<student>/feedback.html   grades: {out / 'grades.csv'}")
        print(
            f"   class report: {out / 'report.html'}   written answers to mark: {out / 'written.csv'}"
        )
    graded = course / "graded" / names[0]
    print(
        f"\nOpen {graded / 'chloe' / 'feedback.html'} to see what a student reads, and "
        f"{graded / 'report.html'} for the class. Done in {time.perf_counter() - start:.0f} s."
    )
    print(
        "Next: `aekit grade ASSIGNMENT submitted/ --out graded/` on a real class; see the README."
    )
    return 0
