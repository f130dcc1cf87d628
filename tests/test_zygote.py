"""The zygote and the reference's child outlive what happens around them: threads that end,
a child that dies. A grade is never the price of the grader's own trouble."""

import os
import signal
import threading
import time

from scenarios import MNIST_SOLUTION

from autograder.assignments import get_assignment
from autograder.engine import grade_notebook
from autograder.sandbox import Limits, Sandbox
from autograder.sandbox.launch import Zygote
from autograder.sandbox.remote import RemoteBench

# Eager torch in a child: the meta device and an optimizer step, which mark functions
# "not to be compiled"; then a compiled function, which needs the real compiler.
EAGER_THEN_COMPILED = """
import sys, torch

def dynamo():
    return type(sys.modules["torch._dynamo"]).__name__

def run():
    layer = torch.nn.Linear(3, 2).to("meta")
    shape = list(layer(torch.empty(4, 3, device="meta")).relu().shape)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.ones(2, 3)).sum().backward()
    optimizer.step()
    eager = dynamo()
    compiled = torch.compile(lambda x: x * 2 + 1, backend="eager")
    value = compiled(torch.ones(2)).tolist()
    optimizer.step()  # marked before the compiler came, run after it
    return shape, eager, value, dynamo()
"""


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


def test_a_child_runs_eager_torch_without_the_compiler_and_compiles_when_asked():
    """The zygote defers torch._dynamo (autograder.sandbox.deferred_dynamo): eager code never
    imports it, and a notebook that compiles gets the real one."""
    check = get_assignment("mnist_autoencoders").checks[0]
    with Sandbox([(1, EAGER_THEN_COMPILED)], limits=Limits(check_seconds=60.0)) as sandbox:
        sandbox.load()
        assert sandbox.begin() is None
        shape, eager, value, compiled = RemoteBench(sandbox, check).get("run")()
    assert shape == [4, 2]
    assert eager == "DeferredDynamo"
    assert value == [3.0, 3.0]
    assert compiled == "module"
