"""The grader against hostile submissions: each class of attack gains nothing, leaks nothing and
harms nothing (score, files, processes, IPC objects, sockets, time), on the batch route.

The Gradescope route runs the same notebooks in tests/test_gradescope.py.
"""

import base64
import binascii
import json
import re
import socket
import time
from pathlib import Path

import psutil
import pytest
from adversaries import QUEUE_KEY, mnist_adversaries, queue_reader, queue_writer
from scenarios import MNIST, ROOT, exercise_points, stored_results
from test_gradescope import RESULTS_SCHEMA, submit

from autograder.assignments import get_assignment
from autograder.batch import grade_all
from autograder.leaks import public_lines, secret_lines
from autograder.sandbox import Limits, Sandbox, shared_zygote
from autograder.sandbox.remote import RemoteBench

ASSIGNMENT = get_assignment(MNIST)
LIMITS = Limits(check_seconds=5.0, statement_seconds=1.0, submission_seconds=40.0)


@pytest.fixture(scope="module")
def host_socket(tmp_path_factory):
    """A listening pathname UNIX socket on the host, which no sandboxed code may reach."""
    path = tmp_path_factory.mktemp("host") / "grader.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    server.setblocking(False)
    yield path, server
    server.close()


def zygote_tree() -> set[int]:
    """Every process below the grading zygote (its children and theirs)."""
    zygote = psutil.Process(shared_zygote().process.pid)
    return {process.pid for process in zygote.children(recursive=True)}


@pytest.fixture(scope="module")
def attacked(tmp_path_factory, reference, host_socket):
    submitted = tmp_path_factory.mktemp("hostile")
    adversaries = mnist_adversaries(host_socket[0])
    for adversary in adversaries:
        adversary.write(submitted, MNIST)
    before = zygote_tree()
    out = tmp_path_factory.mktemp("hostile-out")
    start = time.monotonic()
    rows = grade_all(submitted, out, reference, jobs=2, limits=LIMITS, progress=False)
    return {
        "out": out,
        "rows": {row.student: row for row in rows},
        "adversaries": {adversary.name: adversary for adversary in adversaries},
        "seconds": time.monotonic() - start,
        "before": before,
    }


def points(out: Path, student: str) -> dict[str, float]:
    return exercise_points(stored_results(out, student))


NAMES = [adversary.name for adversary in mnist_adversaries(Path("unused"))]


@pytest.mark.parametrize("name", NAMES)
def test_an_adversary_gets_exactly_what_its_honest_code_earns(attacked, name):
    adversary = attacked["adversaries"][name]
    full = {exercise: ASSIGNMENT.points(exercise) for exercise in ASSIGNMENT.exercises}
    assert points(attacked["out"], name) == full | adversary.expected, adversary.kind


def test_code_that_zeroes_its_inputs_earns_what_the_same_code_without_it_earns(attacked):
    assert points(attacked["out"], "input-zeroer") == points(attacked["out"], "input-zeroer-twin")


def test_every_hostile_submission_was_graded_and_the_batch_went_on(attacked):
    statuses = {name: row.status for name, row in attacked["rows"].items()}
    assert statuses == {name: "graded" for name in NAMES}


def test_fences_in_force_are_stated_in_every_result(attacked):
    for name in NAMES:
        extra = stored_results(attacked["out"], name)["extra_data"]
        assert any("seccomp" in fence for fence in extra["fences"]), name


# --- leaks ------------------------------------------------------------------------------------


def solution_lines() -> set[str]:
    """Lines of the reference's solutions that nothing public shows: not the release notebook,
    not the messages of the checks (a message may quote the contract, ``z = reparameterize(mu,
    logvar)``)."""
    notebook = ASSIGNMENT.notebook
    public = (ROOT / "release" / MNIST / f"{MNIST}.ipynb").read_text()
    for folder in (ROOT / "aekit" / "checks", ROOT / "autograder" / "hidden"):
        public += "".join(path.read_text() for path in sorted(folder.glob("*.py")))
    lines = secret_lines(notebook)["solution"] - public_lines(notebook)
    return {line for line in lines if len(line) >= 16 and line not in public}


def readings(text: str) -> list[str]:
    """``text`` as a leak hunter reads it: plain, reversed, and every base64 or hex run decoded
    (reversed too)."""
    found = [text, text[::-1]]
    for candidate in (text, text[::-1]):
        for run in re.findall(r"[A-Za-z0-9+/=]{24,}", candidate):
            for offset in range(4):
                try:
                    chunk = run[offset:]
                    found.append(
                        base64.b64decode(chunk + "=" * (-len(chunk) % 4)).decode("latin-1")
                    )
                except (binascii.Error, ValueError):
                    pass
        for run in re.findall(r"(?:[0-9a-fA-F]{2}){12,}", candidate):
            found.append(bytes.fromhex(run).decode("latin-1"))
    return found


def test_no_artifact_holds_the_reference_in_plain_or_encoded_form(attacked):
    secrets = solution_lines() | {"BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "def probe"}
    assert len(secrets) > 10
    for name in NAMES:
        for artifact in ("results.json", "feedback.html"):
            text = (attacked["out"] / name / artifact).read_text()
            for reading in readings(text):
                leaked = [line for line in secrets if line in reading]
                assert not leaked, (name, artifact, leaked[:3])


def test_the_leak_hunter_would_see_an_encoded_solution():
    """The reading above is not blind: an encoded solution line is found."""
    line = sorted(solution_lines())[0]
    encoded = base64.b64encode(f"xx{line}".encode()).decode()
    assert any(line in reading for reading in readings(f"<p>{encoded[::-1]}</p>"))


def test_no_secret_module_or_reference_is_in_a_childs_memory(reference):
    cells = [
        (
            1,
            "import sys, gc\n"
            "def loot():\n"
            "    names = sorted(sys.modules)\n"
            "    texts = [o for o in gc.get_objects() if isinstance(o, str) and 'BEGIN' in o]\n"
            "    return names, texts\n",
        )
    ]
    check = ASSIGNMENT.checks[0]
    with Sandbox(cells, limits=LIMITS) as sandbox:
        sandbox.load()
        sandbox.use_pieces(["reparameterize", "kl_divergence"], reference.pieces)
        assert sandbox.begin() is None
        modules, texts = RemoteBench(sandbox, check).get("loot")()
    assert "autograder.sandbox.child" in modules  # the list is real
    secret = [name for name in modules if name.startswith(("autograder.hidden", "autograder.ref"))]
    secret += [name for name in modules if name in {"autograder.assignments", "autograder.engine"}]
    assert secret == []
    assert not [text for text in texts if "BEGIN SOLUTION" in text or "BEGIN HIDDEN" in text]


# --- harm --------------------------------------------------------------------------------------


def test_no_process_outlives_the_grading(attacked):
    time.sleep(1.0)  # a killed child is reaped by the zygote within moments
    assert zygote_tree() <= attacked["before"]


def test_no_sandbox_reached_a_socket_on_the_host(attacked, host_socket):
    _, server = host_socket
    with pytest.raises(BlockingIOError):
        server.accept()


def test_a_tarpit_costs_no_more_than_the_submission_budget(attacked, reference, tmp_path):
    tarpit = attacked["adversaries"]["tarpit"]
    submitted = tmp_path / "submitted"
    tarpit.write(submitted, MNIST)
    budget = Limits(check_seconds=2.0, statement_seconds=1.0, submission_seconds=6.0)
    start = time.monotonic()
    rows = grade_all(submitted, tmp_path / "out", reference, limits=budget, progress=False)
    assert time.monotonic() - start < 6.0 + 15.0
    assert rows[0].score == 0
    messages = [
        test["output"]
        for test in json.loads((tmp_path / "out" / "tarpit" / "results.json").read_text())["tests"]
    ]
    assert any("for the whole submission" in message for message in messages)


def sysv_queues() -> set[int]:
    lines = Path("/proc/sysvipc/msg").read_text().splitlines()[1:]
    return {int(line.split()[0]) for line in lines if line.split()}


def test_nothing_left_by_one_submission_reaches_the_next(reference, tmp_path):
    writer, reader = queue_writer(), queue_reader()
    writer.write(tmp_path / "first", MNIST)
    reader.write(tmp_path / "second", MNIST)
    grade_all(tmp_path / "first", tmp_path / "out", reference, limits=LIMITS, progress=False)
    assert QUEUE_KEY not in sysv_queues()
    grade_all(tmp_path / "second", tmp_path / "out", reference, limits=LIMITS, progress=False)
    full = {exercise: ASSIGNMENT.points(exercise) for exercise in ASSIGNMENT.exercises}
    assert points(tmp_path / "out", "queue-writer") == full
    assert points(tmp_path / "out", "queue-reader") == full | reader.expected


# --- the Gradescope route ------------------------------------------------------------------------


def run_bundle(root: Path, **environment: str) -> dict:
    """The bundle's run_autograder, as root, in a folder that mimics /autograder."""
    import os
    import subprocess
    import sys

    import jsonschema

    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AEKIT_", "PYTHON"))
    }
    env.update(AUTOGRADER_ROOT=str(root), AEKIT_PYTHON=sys.executable, **environment)
    finished = subprocess.run(
        [str(root / "source" / "run_autograder")],
        cwd=root,
        env=env,
        capture_output=True,
        timeout=600,
    )
    assert finished.returncode == 0
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, RESULTS_SCHEMA)
    return results


# One hostile notebook of each class through the bundle (the batch route grades them all).
ONE_OF_EACH = [
    "forger",
    "torch-patcher",
    "input-zeroer",
    "seeker",
    "string-answers",
    "root-powers",
    "escaper",
    "tarpit",
    "nan-kl",
    "memory-hog",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", ONE_OF_EACH)
def test_the_gradescope_bundle_holds_against_each_class_of_attack(root, host_socket, name):
    adversary = {a.name: a for a in mnist_adversaries(host_socket[0])}[name]
    submit(root, json.dumps(adversary.notebook))
    budget = {"AEKIT_CHECK_SECONDS": "2", "AEKIT_BUDGET_SECONDS": "6"} if name == "tarpit" else {}
    results = run_bundle(root, **budget)
    full = {exercise: ASSIGNMENT.points(exercise) for exercise in ASSIGNMENT.exercises}
    assert exercise_points(results) == full | adversary.expected, adversary.kind
    assert any("seccomp" in fence for fence in results["extra_data"]["fences"])
    for reading in readings(json.dumps(results)):
        assert not [line for line in solution_lines() if line in reading]
    with pytest.raises(BlockingIOError):
        host_socket[1].accept()


@pytest.mark.slow
def test_the_gradescope_bundle_keeps_no_state_between_submissions(root):
    submit(root, json.dumps(queue_writer().notebook))
    run_bundle(root)
    assert QUEUE_KEY not in sysv_queues()
    (root / "submission" / f"{MNIST}.ipynb").unlink()
    submit(root, json.dumps(queue_reader().notebook))
    full = {exercise: ASSIGNMENT.points(exercise) for exercise in ASSIGNMENT.exercises}
    assert exercise_points(run_bundle(root)) == full | queue_reader().expected
