"""A whole class: 200 MNIST submissions graded with ``--jobs 2``, then the same class in four
shards run one after the other and merged.

    .venv/bin/python -m benchmarks.classroom [--students 200] [--shards 4]

The class mixes what a real one hands in: about half correct, a third with one typical
mistake each, some untouched, a few unreadable files and students with no notebook. Figures:
the wall time of ``aekit grade`` (start-up and reference included), the time its class report
took (target ≤ 10 % of the run), and the shards' total plus the merge against one run.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder import samples

AEKIT = [sys.executable, "-m", "aekit"]
ASSIGNMENT = "mnist_autoencoders"


def classroom(folder: Path, students: int) -> Path:
    """``folder/<student>/mnist_autoencoders/`` for ``students`` students of a realistic mix."""
    solution = samples.load("solutions", ASSIGNMENT)
    release = samples.load("release", ASSIGNMENT)
    mistakes = samples.TYPICAL_MISTAKES[ASSIGNMENT]
    for index in range(students):
        student, kind = f"student{index:03d}", index % 20
        if kind < 10:
            samples.write(solution, folder, student, ASSIGNMENT)
        elif kind < 16:
            exercise, text, mistake = mistakes[index % len(mistakes)]
            samples.write(
                samples.edit(solution, exercise, text, mistake), folder, student, ASSIGNMENT
            )
        elif kind < 18:
            samples.write(release, folder, student, ASSIGNMENT)
        elif kind == 18:
            samples.write("{ this is not a notebook", folder, student, ASSIGNMENT)
        else:
            (folder / student).mkdir(parents=True)  # handed in nothing
    return folder


def grade(submitted: Path, out: Path, *options: str) -> float:
    command = [*AEKIT, "grade", ASSIGNMENT, str(submitted), "--out", str(out), "--quiet"]
    start = time.perf_counter()
    finished = subprocess.run([*command, *options], capture_output=True, text=True)
    if finished.returncode != 0:
        raise RuntimeError(f"aekit grade failed: {finished.stderr[-800:]}")
    return time.perf_counter() - start


def merge(shards: list[Path], out: Path) -> float:
    start = time.perf_counter()
    finished = subprocess.run(
        [*AEKIT, "merge", ASSIGNMENT, *map(str, shards), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"aekit merge failed: {finished.stderr[-800:]}")
    return time.perf_counter() - start


def report_seconds(out: Path) -> float:
    """What the run's class report took, as run.json records it."""
    return float(json.loads((out / "run.json").read_text()).get("report_seconds", float("nan")))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="aekit-classroom-"))
    try:
        submitted = classroom(scratch / "submitted", args.students)
        one = grade(submitted, scratch / "one", "--jobs", "2")
        shards = [scratch / f"shard-{k}" for k in range(1, args.shards + 1)]
        shard_seconds = [
            grade(submitted, shard, "--jobs", "2", "--shard", f"{k}/{args.shards}")
            for k, shard in enumerate(shards, start=1)
        ]
        merge_seconds = merge(shards, scratch / "merged")
        same = (scratch / "one" / "grades.csv").read_text() == (
            scratch / "merged" / "grades.csv"
        ).read_text()
        figures = {
            "students": args.students,
            "one_run_s": round(one, 1),
            "per_submission_s": round(one / args.students, 3),
            "report_s": round(report_seconds(scratch / "one"), 2),
            "shards": args.shards,
            "shard_runs_s": [round(seconds, 1) for seconds in shard_seconds],
            "merge_s": round(merge_seconds, 1),
            "merged_equals_one_run": same,
        }
        total = sum(shard_seconds) + merge_seconds
        figures["shards_overhead"] = round(total / one - 1, 3)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report(figures)
    return figures


def report(figures: dict) -> None:
    share = figures["report_s"] / figures["one_run_s"]
    print(
        f"{figures['students']} MNIST submissions, --jobs 2: {figures['one_run_s']:.1f} s "
        f"({figures['per_submission_s']:.2f} s each); class report {figures['report_s']:.2f} s "
        f"= {share:.1%} of the run (target ≤ 10 %)"
    )
    print(
        f"{figures['shards']} shards one after the other: {sum(figures['shard_runs_s']):.1f} s "
        f"+ merge {figures['merge_s']:.1f} s = {figures['shards_overhead']:+.1%} against one run; "
        f"merged grades.csv equals one run's: {figures['merged_equals_one_run']}"
    )


if __name__ == "__main__":
    main()
