"""Grading figures: throughput, memory, the time limit, and nbgrader side by side.

    .venv/bin/python -m benchmarks.grading [--students 16] [--nbgrader 4]

- throughput: ``aekit grade --jobs 2`` on N copies of the solution notebook, wall time of the
  whole command (start-up and reference included) divided by N; for every assignment;
- nbgrader: ``nbgrader autograde`` of the same notebooks (fast mode, as nbgrader runs them),
  seconds per submission, and the ratio;
- memory: the peak resident memory of every process of the grading run (the grader, the
  zygote, each sandboxed child), sampled every 20 ms;
- time limit: a batch with a submission that never returns finishes, and that check is cut
  at the limit;
- side by side: the throughput of this tree and of the grader before the sandbox redesign
  (``--against``, default commit 7f14fd4), interleaved round by round, so that both see the
  same machine: how much the sandbox and the trusted judging cost, whatever the machine's
  speed at the time (it varies by a factor of two within an hour on a shared machine).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from autograder import samples
from autograder.assignments import ASSIGNMENTS, COURSE_ROOT
from autograder.release import tool_environment

AEKIT = [sys.executable, "-m", "aekit"]
# The grader before the sandbox redesign, whose throughput the redesign must keep within 20 %.
BEFORE_SANDBOX = "7f14fd4"


def assignments() -> list[str]:
    return [name for name in ASSIGNMENTS if (COURSE_ROOT / "solutions" / name).exists()]


class Sampler:
    """Samples a process tree in a thread until stopped: ``measure(processes)`` each time."""

    def __init__(self, root_pid: int, every: float):
        self.root = psutil.Process(root_pid)
        self.every = every
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while self.running:
            try:
                self.measure([self.root, *self.root.children(recursive=True)])
            except psutil.Error:
                return
            time.sleep(self.every)

    def measure(self, processes: list[psutil.Process]) -> None:
        raise NotImplementedError

    def stop(self):
        self.running = False
        self.thread.join()
        return self.result()


class PeakMemory(Sampler):
    """Each process role's peak resident memory, sampled every 20 ms."""

    def __init__(self, root_pid: int):
        self.peaks: dict[str, float] = {}
        super().__init__(root_pid, 0.02)

    def measure(self, processes) -> None:
        for process in processes:
            try:
                name, rss = _role(process), process.memory_info().rss / 2**20
            except psutil.Error:
                continue
            self.peaks[name] = max(self.peaks.get(name, 0.0), rss)

    def result(self) -> dict[str, float]:
        return self.peaks


class PeakPss(Sampler):
    """The peak, over time, of the summed proportional set size of a process tree: what a
    container holding the whole tree is charged (shared pages split among their users)."""

    def __init__(self, root_pid: int):
        self.peak = 0.0
        super().__init__(root_pid, 0.1)

    def measure(self, processes) -> None:
        total = 0.0
        for process in processes:
            try:
                total += process.memory_full_info().pss / 2**20
            except psutil.Error:
                continue
        self.peak = max(self.peak, total)

    def result(self) -> float:
        return self.peak


def _role(process: psutil.Process) -> str:
    """grader, bubblewrap, zygote, or sandboxed child (forked from the zygote, so with its
    command line)."""
    command = process.cmdline()
    if command and Path(command[0]).name == "bwrap":
        return "bubblewrap"
    if "autograder.sandbox.zygote" not in " ".join(command):
        return "grader"
    parent = process.parent()
    above = parent.cmdline() if parent else []  # empty while the parent exits
    forked = bool(above) and Path(above[0]).name != "bwrap"
    return "sandboxed child" if forked and _is_zygote(parent) else "zygote"


def _is_zygote(process: psutil.Process) -> bool:
    return "autograder.sandbox.zygote" in " ".join(process.cmdline())


def aekit_grade(
    assignment: str, submitted: Path, out: Path, jobs: int, timeout: float = 30
) -> tuple[float, dict]:
    """Wall seconds of one ``aekit grade`` command, and the peak memory per process role."""
    command = grade_command(assignment, submitted, out, jobs, timeout)
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    memory = PeakMemory(process.pid)
    _, errors = process.communicate()
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"aekit grade failed: {errors.decode()[-500:]}")
    return seconds, memory.stop()


def grade_command(
    assignment: str, submitted: Path, out: Path, jobs: int = 2, timeout: float = 30
) -> list[str]:
    return AEKIT + [
        "grade",
        assignment,
        str(submitted),
        "--out",
        str(out),
        "--jobs",
        str(jobs),
        "--quiet",
        "--timeout",
        str(timeout),
        "--force",
    ]


def copies(assignment: str, folder: Path, count: int) -> Path:
    solution = samples.load("solutions", assignment)
    for index in range(count):
        samples.write(solution, folder, f"student{index:02d}", assignment)
    return folder


def nbgrader_seconds(assignment: str, submitted: Path, count: int, scratch: Path) -> float:
    """Seconds per submission of ``nbgrader autograde`` on ``count`` of the submissions."""
    course = scratch / "course"
    shutil.copytree(COURSE_ROOT / "source" / assignment, course / "source" / assignment)
    shutil.copy(COURSE_ROOT / "nbgrader_config.py", course)
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "nbgrader", *args, "--log-level=ERROR"],
        cwd=course,
        env=tool_environment(),
        check=True,
    )
    run("generate_assignment", assignment, "--force")
    for folder in sorted(submitted.iterdir())[:count]:
        shutil.copytree(folder, course / "submitted" / folder.name)
    start = time.perf_counter()
    run("autograde", assignment, "--force")
    return (time.perf_counter() - start) / count


def one_submission(assignment: str, scratch: Path, python: str = sys.executable) -> dict:
    """Wall seconds to grade one solution notebook three ways, side by side: ``aekit grade``,
    the Gradescope zip's ``run_autograder`` (with ``python``'s torch), and ``nbgrader
    autograde`` (fast mode)."""
    folder = scratch / "one"
    notebook = samples.write(
        samples.load("solutions", assignment), folder / "submitted", "ada", assignment
    )
    aekit_seconds, _ = aekit_grade(assignment, notebook, folder / "aekit", jobs=1)
    gradescope_seconds, pss, score = run_autograder(assignment, notebook, folder, python)
    nbgrader = nbgrader_seconds(assignment, folder / "submitted", 1, folder)
    return {
        "aekit_grade_s": aekit_seconds,
        "run_autograder_s": gradescope_seconds,
        "run_autograder_pss_mb": pss,
        "nbgrader_s": nbgrader,
        "score": score,
    }


def run_autograder(
    assignment: str, notebook: Path, folder: Path, python: str = sys.executable
) -> tuple[float, float, float]:
    """Wall seconds of the Gradescope zip's whole ``run_autograder`` on ``notebook``, the peak
    summed PSS of its process tree (MB) and the score."""
    import os
    import zipfile

    from autograder.assignments import get_assignment
    from autograder.gradescope import build

    root = folder / "autograder"
    shutil.rmtree(root, ignore_errors=True)
    with zipfile.ZipFile(build(get_assignment(assignment), folder / "ag.zip")) as archive:
        archive.extractall(root / "source")
    (root / "source" / "run_autograder").chmod(0o755)
    # What setup.sh does once when Gradescope builds the image: the bytecode, compiled.
    subprocess.run([python, "-m", "compileall", "-q", str(root / "source")], check=True)
    (root / "results").mkdir()
    (root / "submission").mkdir()
    shutil.copy(notebook, root / "submission")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AEKIT_", "PYTHON"))}
    environment.update(AUTOGRADER_ROOT=str(root), AEKIT_PYTHON=python)
    start = time.perf_counter()
    process = subprocess.Popen(
        [str(root / "source" / "run_autograder")],
        cwd=root,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    container = PeakPss(process.pid)
    if process.wait() != 0:
        raise RuntimeError("run_autograder failed")
    gradescope_seconds = time.perf_counter() - start
    pss = container.stop()
    score = json.loads((root / "results" / "results.json").read_text())["score"]
    return gradescope_seconds, pss, score


def gradescope_only(scratch: Path, python: str, repeats: int) -> dict:
    """``run_autograder`` alone, ``repeats`` times per assignment with ``python``'s torch: the
    median wall time and the largest peak PSS."""
    version = subprocess.run(
        [python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    figures = {"python": python, "torch": version}
    for assignment in assignments():
        folder = scratch / assignment
        notebook = samples.write(
            samples.load("solutions", assignment), folder / "submitted", "ada", assignment
        )
        runs = [run_autograder(assignment, notebook, folder, python) for _ in range(repeats)]
        times = sorted(seconds for seconds, _, _ in runs)
        figures[assignment] = {
            "run_autograder_s": times[len(times) // 2],
            "run_autograder_s_all": [round(seconds, 2) for seconds in times],
            "run_autograder_pss_mb": max(pss for _, pss, _ in runs),
            "score": runs[0][2],
        }
        print(
            f"  {assignment} (torch {version}): run_autograder {figures[assignment]['run_autograder_s']:.2f} s "
            f"median of {times}, peak summed PSS {figures[assignment]['run_autograder_pss_mb']:.0f} MB "
            "(targets ≤ 4 s, ≤ 600 MB)"
        )
    return figures


def time_limit(assignment: str, scratch: Path, limit: float = 10.0) -> dict:
    """A solution and a never-returning submission: the batch finishes, the check is cut."""
    submitted = scratch / "loop"
    solution = samples.load("solutions", assignment)
    samples.write(solution, submitted, "fine", assignment)
    looping = samples.edit(
        solution,
        "kl_divergence",
        "    return -0.5 *",
        "    while True:\n        pass\n    return -0.5 *",
    )
    samples.write(looping, submitted, "loops", assignment)
    seconds, _ = aekit_grade(assignment, submitted, scratch / "loop-out", jobs=2, timeout=limit)
    results = json.loads((scratch / "loop-out" / "loops" / "results.json").read_text())
    cut = [t for t in results["tests"] if t["output"].startswith("Your code did not return within")]
    return {
        "limit_s": limit,
        "batch_s": seconds,
        "cut_checks": len(cut),
        "score_loops": results["score"],
    }


def side_by_side(commit: str, scratch: Path, rounds: int, students: int) -> dict:
    """Seconds per submission of ``aekit grade --jobs 2`` on ``students`` copies, for this tree
    and for ``commit`` (checked out in a worktree), interleaved ``rounds`` times: the median of
    each, per assignment, and the ratio. Each tree writes its own copies of its solutions."""
    tree = scratch / f"at-{commit}"
    checkout = ["git", "-C", str(COURSE_ROOT), "worktree", "add", "--detach", str(tree), commit]
    made = subprocess.run(checkout, capture_output=True, text=True)
    if made.returncode != 0:  # a shallow clone, or no git: the other figures still stand
        return {"commit": commit, "skipped": made.stderr.strip() or "git worktree add failed"}
    trees = {"now": COURSE_ROOT, commit: tree}
    try:
        figures = {"commit": commit, "rounds": rounds}
        for assignment in assignments():
            seconds = {name: [] for name in trees}
            for name, root in trees.items():
                folder = scratch / name / assignment
                write = (
                    "from pathlib import Path; from benchmarks.grading import copies; "
                    f"copies({assignment!r}, Path({str(folder)!r}), {students})"
                )
                _in_tree(root, [sys.executable, "-c", write])
            for _ in range(rounds):
                for name, root in trees.items():
                    folder = scratch / name / assignment
                    start = time.perf_counter()
                    _in_tree(
                        root,
                        grade_command(assignment, folder, folder.with_name(f"{assignment}-out")),
                    )
                    seconds[name].append((time.perf_counter() - start) / students)
            medians = {name: sorted(times)[len(times) // 2] for name, times in seconds.items()}
            figures[assignment] = {
                "now_s_per_submission": medians["now"],
                "before_s_per_submission": medians[commit],
                "now_over_before": medians["now"] / medians[commit],
                "rounds": {name: [round(t, 3) for t in times] for name, times in seconds.items()},
            }
        return figures
    finally:
        subprocess.run(
            ["git", "-C", str(COURSE_ROOT), "worktree", "remove", "--force", str(tree)],
            capture_output=True,
        )


def _in_tree(root: Path, command: list[str]) -> None:
    """``command`` run from the tree at ``root``, with that tree's own packages."""
    environment = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run(command, cwd=root, env=environment, check=True, capture_output=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=16)
    parser.add_argument(
        "--nbgrader", type=int, default=4, help="submissions autograded by nbgrader (0: skip)"
    )
    parser.add_argument(
        "--bundle-python",
        default=sys.executable,
        help="the Python run_autograder uses (e.g. a venv with the CPU-only torch the "
        "Gradescope bundle installs; default: this one)",
    )
    parser.add_argument(
        "--against",
        default=BEFORE_SANDBOX,
        metavar="COMMIT",
        help=f"the commit whose throughput is measured side by side (default {BEFORE_SANDBOX}, "
        "the grader before the sandbox redesign)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds of the side by side (0: skip)"
    )
    parser.add_argument(
        "--gradescope-only",
        type=int,
        metavar="REPEATS",
        default=0,
        help="measure only run_autograder, REPEATS times per assignment",
    )
    args = parser.parse_args(argv)
    figures: dict = {}
    if args.gradescope_only:
        with tempfile.TemporaryDirectory(prefix="aekit-bench-") as folder:
            return gradescope_only(Path(folder), args.bundle_python, args.gradescope_only)
    with tempfile.TemporaryDirectory(prefix="aekit-bench-") as folder:
        scratch = Path(folder)
        for assignment in assignments():
            submitted = copies(assignment, scratch / assignment / "submitted", args.students)
            seconds, peaks = aekit_grade(
                assignment, submitted, scratch / assignment / "out", jobs=2
            )
            per = seconds / args.students
            figures[assignment] = {"aekit_s_per_submission": per, "peak_rss_mb": peaks}
            if args.nbgrader:
                nb = nbgrader_seconds(assignment, submitted, args.nbgrader, scratch / assignment)
                figures[assignment] |= {
                    "nbgrader_s_per_submission": nb,
                    "nbgrader_over_aekit": nb / per,
                }
        if args.rounds:
            figures["side_by_side"] = side_by_side(
                args.against, scratch / "side-by-side", args.rounds, args.students
            )
        figures["time_limit"] = time_limit("mnist_autoencoders", scratch)
        figures["one_submission"] = {
            name: one_submission(name, scratch / name, args.bundle_python) for name in assignments()
        }
    report(figures, args.students)
    return figures


def report(figures: dict, students: int) -> None:
    print(
        f"Grading benchmarks ({psutil.cpu_count()} CPU cores), {students} correct submissions, --jobs 2"
    )
    for assignment in assignments():
        row = figures[assignment]
        print(
            f"  {assignment}: aekit grade {row['aekit_s_per_submission']:.2f} s per submission (target ≤ 2.5 s)"
        )
        if "nbgrader_s_per_submission" in row:
            print(
                f"    nbgrader autograde {row['nbgrader_s_per_submission']:.1f} s per submission "
                f"({row['nbgrader_over_aekit']:.0f}× slower)"
            )
        peaks = ", ".join(f"{role} {mb:.0f} MB" for role, mb in sorted(row["peak_rss_mb"].items()))
        print(f"    peak resident memory: {peaks} (target ≤ 768 MB each)")
    for assignment, row in figures["one_submission"].items():
        print(
            f"  one {assignment} submission, wall time of each whole command: aekit grade "
            f"{row['aekit_grade_s']:.1f} s, Gradescope run_autograder {row['run_autograder_s']:.1f} s, "
            f"nbgrader autograde {row['nbgrader_s']:.1f} s"
        )
        print(
            f"    run_autograder's whole process tree: peak summed PSS "
            f"{row['run_autograder_pss_mb']:.0f} MB (target ≤ 600 MB with CPU-only torch)"
        )
    if "side_by_side" in figures:
        report_side_by_side(figures["side_by_side"])
    limit = figures["time_limit"]
    print(
        f"  time limit {limit['limit_s']:.0f} s: batch with a never-returning submission finished in "
        f"{limit['batch_s']:.1f} s, {limit['cut_checks']} check cut, its score {limit['score_loops']:g}"
    )


def report_side_by_side(pair: dict) -> None:
    if "skipped" in pair:
        print(f"  side by side with {pair['commit']}: not measured ({pair['skipped']})")
        return
    print(
        f"  side by side with the grader before the sandbox ({pair['commit']}), median of "
        f"{pair['rounds']} interleaved rounds:"
    )
    for assignment in assignments():
        row = pair[assignment]
        print(
            f"    {assignment}: {row['now_s_per_submission']:.2f} s per submission against "
            f"{row['before_s_per_submission']:.2f} s ({100 * (row['now_over_before'] - 1):+.0f} %, "
            "target ≤ +20 %)"
        )


if __name__ == "__main__":
    main()
