"""The red team: every hostile notebook of the kit's tests, graded, and what each gained.

    .venv/bin/python -m benchmarks.red_team

A hostile notebook *gains* when it scores more on any exercise than its honest code earns
(the exact scores of tests/adversaries.py). Target: none gains.
"""

import socket
import sys
import tempfile
import time
from pathlib import Path

from autograder.assignments import COURSE_ROOT, get_assignment
from autograder.batch import grade_all
from autograder.reference import load_reference
from autograder.sandbox import Limits, shared_zygote

sys.path.insert(0, str(COURSE_ROOT / "tests"))

from adversaries import mnist_adversaries, queue_reader, queue_writer  # noqa: E402
from test_red_team import points  # noqa: E402

LIMITS = Limits(check_seconds=5.0, statement_seconds=1.0, submission_seconds=40.0)


def main(argv: list[str] | None = None) -> dict:
    assignment = get_assignment("mnist_autoencoders")
    shared_zygote()
    reference = load_reference(assignment)
    full = {exercise: assignment.points(exercise) for exercise in assignment.exercises}
    with tempfile.TemporaryDirectory(prefix="aekit-red-") as folder:
        scratch = Path(folder)
        host = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        host.bind(str(scratch / "host.sock"))
        host.listen(8)
        adversaries = mnist_adversaries(scratch / "host.sock")
        for adversary in adversaries:
            adversary.write(scratch / "submitted", assignment.name)
        start = time.perf_counter()
        grade_all(
            scratch / "submitted", scratch / "out", reference, jobs=2, limits=LIMITS, progress=False
        )
        seconds = time.perf_counter() - start
        for batch, adversary in (("first", queue_writer()), ("second", queue_reader())):
            adversary.write(scratch / batch, assignment.name)
            grade_all(scratch / batch, scratch / "out", reference, limits=LIMITS, progress=False)
            adversaries.append(adversary)
        host.setblocking(False)
        try:
            host.accept()
            reached = True
        except BlockingIOError:
            reached = False
        gains = {}
        for adversary in adversaries:
            honest = full | adversary.expected
            got = points(scratch / "out", adversary.name)
            gains[adversary.name] = {
                "kind": adversary.kind,
                "gained": round(sum(max(0.0, got[e] - honest[e]) for e in honest), 6),
                "score": sum(got.values()),
            }
    reference.close()
    figures = {
        "notebooks": len(gains),
        "gaining": sorted(name for name, row in gains.items() if row["gained"] > 0),
        "host_socket_reached": reached,
        "batch_s": seconds,
        "per_notebook": gains,
    }
    print(f"Red team: {len(gains)} hostile notebooks, graded in {seconds:.1f} s (--jobs 2)")
    for name, row in sorted(gains.items()):
        print(f"  {name:<18} {row['kind']:<32} score {row['score']:5g}  gained {row['gained']:g}")
    print(f"  notebooks that gained anything: {len(figures['gaining'])} (target 0)")
    print(f"  a socket on the host reached from a sandbox: {'yes' if reached else 'no'}")
    return figures


if __name__ == "__main__":
    main()
