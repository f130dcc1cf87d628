"""nbgrader against aekit grade: the same points per exercise for every honest scenario.

    .venv/bin/python -m benchmarks.agreement [--assignment mnist_autoencoders]

Every scenario of the grader's tests except the ones nbgrader cannot survive by design
(stalling, crashing, flooding, tampering: the student's code runs in nbgrader's grading
kernel), files under another name than the assignment's (nbgrader skips unknown notebook
names: the renamed and stripped-metadata students) and unreadable files. Each
notebook runs top to bottom in fast mode, so this takes a while.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from scenarios import MNIST, mnist_scenarios  # noqa: E402

from autograder.assignments import get_assignment  # noqa: E402
from autograder.batch import grade_all  # noqa: E402
from autograder.nbgrader_course import round_trip  # noqa: E402
from autograder.reference import load_reference  # noqa: E402

LEFT_OUT = {"stalling", "crashing", "flooding", "tampering", "unreadable"}


def aekit_points(out: Path, student: str) -> dict[str, float]:
    points: dict[str, float] = {}
    for test in json.loads((out / student / "results.json").read_text())["tests"]:
        exercise = test["name"].split(": ", 1)[0]
        points[exercise] = points.get(exercise, 0.0) + test["score"]
    return points


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aekit-agreement-") as folder:
        scratch = Path(folder)
        scenarios = [
            s
            for s in mnist_scenarios(scratch / "planted.json")
            if s.name not in LEFT_OUT and s.file_name is None
        ]
        for scenario in scenarios:
            scenario.write(scratch / "submitted", MNIST)
        students = [scenario.name for scenario in scenarios]
        start = time.perf_counter()
        nbgrader = round_trip(scratch / "course", MNIST, scratch / "submitted", students)
        nbgrader_seconds = time.perf_counter() - start
        start = time.perf_counter()
        grade_all(
            scratch / "submitted",
            scratch / "aekit",
            load_reference(get_assignment(MNIST)),
            jobs=2,
            progress=False,
        )
        aekit_seconds = time.perf_counter() - start
        rows = {
            student: (nbgrader[student], aekit_points(scratch / "aekit", student))
            for student in students
        }
    agree = [student for student, (ours, theirs) in rows.items() if ours == theirs]
    print(
        f"nbgrader and aekit grade agree on every exercise for {len(agree)} of {len(rows)} scenarios"
    )
    for student, (ours, theirs) in rows.items():
        if ours != theirs:
            differing = {
                k: (ours.get(k), theirs.get(k)) for k in theirs if ours.get(k) != theirs.get(k)
            }
            print(f"  {student}: nbgrader vs aekit {differing}")
    print(
        f"  nbgrader autograde {nbgrader_seconds / len(rows):.1f} s per notebook, aekit grade {aekit_seconds / len(rows):.2f} s"
    )
    return {
        "scenarios": len(rows),
        "agreeing": len(agree),
        "nbgrader_s": nbgrader_seconds,
        "aekit_s": aekit_seconds,
    }


if __name__ == "__main__":
    main()
