"""The zygote and the reference's child outlive what happens around them: threads that end,
a child that dies. A grade is never the price of the grader's own trouble."""

import os
import signal
import threading
import time

from scenarios import MNIST_SOLUTION

from autograder.engine import grade_notebook
from autograder.sandbox import Limits
from autograder.sandbox.launch import Zygote


def test_a_zygote_outlives_the_thread_that_started_it():
    """bubblewrap's --die-with-parent fires when the starting *thread* ends; a batch's worker
    threads end when the batch does, and the zygote must not end with them."""
    started = []

    def start() -> None:
        zygote = Zygote()
        started.append(zygote)
        zygote._wait_ready()  # bubblewrap has armed its parent-death signal by now

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    zygote = started[0]
    try:
        time.sleep(1.0)  # a killed bubblewrap would be gone by now
        assert zygote.alive(), zygote.process.returncode
    finally:
        zygote.close()


def test_a_lost_reference_child_is_reloaded_and_costs_the_student_nothing(reference):
    """The reference's child answers the pieces of composite exercises; killed between two
    submissions, it is reloaded on the next piece request and the solution keeps full marks."""
    limits = Limits(check_seconds=30.0)
    before = grade_notebook(MNIST_SOLUTION, reference, "ada", limits=limits)
    assert before.score == before.max_score
    os.kill(reference.pieces.sandbox.pid, signal.SIGKILL)
    after = grade_notebook(MNIST_SOLUTION, reference, "bea", limits=limits)
    assert after.score == after.max_score, [r.message for r in after.results if not r.passed]
