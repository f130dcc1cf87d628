"""The leak scanner: planted leaks are caught, clean trees pass, real feedback holds no secret."""

import base64
import html
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from autograder import leaks
from autograder.assignments import COURSE_ROOT, get_assignment
from autograder.batch import grade_all
from autograder.reference import load_reference
from autograder.sandbox import Limits, shared_zygote

ASSIGNMENT = "mnist_autoencoders"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
SOURCE = COURSE_ROOT / "source" / ASSIGNMENT / NOTEBOOK
RELEASE = COURSE_ROOT / "release" / ASSIGNMENT / NOTEBOOK
SOLUTION = COURSE_ROOT / "solutions" / ASSIGNMENT / NOTEBOOK


def a_solution_line() -> str:
    """A line of the source notebook's solution to kl_divergence."""
    return next(line for line in leaks.secret_lines(SOURCE)["solution"] if "logvar.exp()" in line)


def a_hidden_check_line() -> str:
    return next(line for line in sorted(leaks.hidden_check_lines()) if line.startswith("class "))


def public_library(into: Path) -> Path:
    """A clean copy of aekit, as the bundle ships it (sources only)."""
    shutil.copytree(
        COURSE_ROOT / "aekit", into / "aekit", ignore=shutil.ignore_patterns("__pycache__")
    )
    return into


def notebook_lines(path: Path) -> set[str]:
    lines = set()
    for cell in json.loads(path.read_text())["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        lines |= {line.strip() for line in source.splitlines()}
    return lines


def edit_cell(notebook: dict, needle: str, old: str, new: str) -> dict:
    """``notebook`` with ``old`` replaced by ``new`` in the code cell that contains ``needle``."""
    for cell in notebook["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and needle in source:
            assert old in source, f"{old!r} is not in the cell with {needle!r}"
            cell["source"] = source.replace(old, new)
            return notebook
    raise AssertionError(f"no code cell contains {needle!r}")


# --- clean trees pass ---------------------------------------------------------------------------


def test_release_and_the_public_library_are_clean(tmp_path):
    assert leaks.scan_student_facing([COURSE_ROOT / "release", public_library(tmp_path)]) == []


def test_the_committed_generation_still_passes_release_check():
    assert leaks.scan_generated([ASSIGNMENT]) == []


def test_secrets_come_from_the_source_notebook_and_the_hidden_checks():
    lines = leaks.secret_lines(SOURCE)
    assert lines["solution"] and lines["hidden"]
    hidden = leaks.hidden_check_lines()
    assert hidden and not hidden & notebook_lines(RELEASE)
    assert "import torch" not in hidden  # lines the public files share are not secrets


def test_prose_about_the_autograder_is_not_a_leak():
    assert leaks.scan_text("Your notebook is graded by the autograder.", set()) == []
    assert "contains 'from autograder'" in leaks.scan_text("from autograder import engine", set())
    assert leaks.scan_text("autograder.engine.grade_notebook(path)", set()) == [
        f"contains {leaks.GRADER_PATH.pattern!r}"
    ]


# --- planted leaks are caught -------------------------------------------------------------------


def test_a_solution_line_in_a_copied_release_notebook_is_flagged(tmp_path):
    line = a_solution_line()
    notebook = edit_cell(
        json.loads(RELEASE.read_text()), "def kl_divergence", "raise NotImplementedError()", line
    )
    copy = tmp_path / "bundle" / ASSIGNMENT / NOTEBOOK
    copy.parent.mkdir(parents=True)
    copy.write_text(json.dumps(notebook, indent=1))
    found = leaks.scan_student_facing([tmp_path / "bundle"])
    assert found == [f"{copy}: contains the secret line {line!r}"]


def test_a_hidden_test_marker_in_feedback_html_is_flagged(tmp_path):
    feedback = tmp_path / "feedback" / "alice" / ASSIGNMENT / "mnist_autoencoders.html"
    feedback.parent.mkdir(parents=True)
    cell = 'from autograder.grade_cells import hidden_checks\nhidden_checks("mnist_autoencoders", "kl_divergence")'
    feedback.write_text(f"<html><body><pre>{html.escape(cell)}</pre></body></html>")
    [problem] = leaks.scan_student_facing([tmp_path / "feedback"])
    assert problem.startswith(f"{feedback}: contains 'hidden_checks'")


def test_a_solution_line_escaped_in_feedback_html_is_flagged(tmp_path):
    line = next(line for line in leaks.secret_lines(SOURCE)["solution"] if '"' in line)
    page = tmp_path / "feedback.html"
    page.write_text(f'<div class="message">{html.escape(line)}</div>')
    assert leaks.scan_student_facing([page]) == [f"{page}: contains the secret line {line!r}"]


def test_hidden_check_code_in_results_json_is_flagged(tmp_path):
    line = a_hidden_check_line()
    results = tmp_path / "alice" / "results.json"
    results.parent.mkdir()
    results.write_text(json.dumps({"score": 0, "tests": [{"output": f"Traceback\n  {line}\n"}]}))
    assert leaks.scan_student_facing([tmp_path]) == [
        f"{results}: contains the secret line {line!r}"
    ]


def test_an_autograder_folder_in_a_bundle_is_flagged(tmp_path):
    bundle = public_library(tmp_path / "bundle")
    shutil.copytree(
        COURSE_ROOT / "autograder",
        bundle / "autograder",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    found = leaks.scan_student_facing([bundle])
    engine = bundle / "autograder" / "engine.py"
    assert f"{engine}: lies in a folder named autograder/, which students must never receive" in (
        found
    )
    assert f"{engine}: is a copy of the course's autograder/engine.py" in found


def test_a_renamed_copy_of_a_grader_file_is_flagged(tmp_path):
    bundle = public_library(tmp_path)
    shutil.copy(COURSE_ROOT / "autograder" / "hidden" / "mnist.py", bundle / "aekit" / "extra.py")
    found = leaks.scan_student_facing([bundle])
    copy = bundle / "aekit" / "extra.py"
    assert f"{copy}: is a copy of the course's autograder/hidden/mnist.py" in found


@pytest.mark.parametrize("kind", ["source", "solutions"])
def test_a_source_or_solution_notebook_in_a_bundle_is_flagged(tmp_path, kind):
    copy = tmp_path / "notes.ipynb"
    shutil.copy(COURSE_ROOT / kind / ASSIGNMENT / NOTEBOOK, copy)
    found = leaks.scan_student_facing([tmp_path])
    assert f"{copy}: is a copy of the course's {kind}/{ASSIGNMENT}/{NOTEBOOK}" in found
    assert any("contains 'BEGIN SOLUTION'" in problem for problem in found)


def test_a_hidden_check_class_pasted_into_the_library_is_flagged(tmp_path):
    module = tmp_path / "aekit" / "checks" / "more.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "from typing import ClassVar\n\nfrom aekit.checks.core import Check\n\n\n"
        "class Secret(Check):\n    hidden: ClassVar[bool] = True\n\n\n"
        "class MoreSecret(Secret):\n    exercise = 'kl_divergence'\n"
    )
    [problem] = leaks.scan_student_facing([tmp_path])
    assert "defines the hidden check class MoreSecret" in problem
    assert problem.endswith("(and 1 more)")


def test_library_code_may_share_one_short_idiom_but_not_more(tmp_path):
    solution = sorted(leaks.all_secrets(["solution"]))
    short = sorted((line for line in solution if len(line) < leaks.IDIOM_CHARS), key=len)
    long = next(line for line in solution if len(line) >= leaks.IDIOM_CHARS)
    module = tmp_path / "helpers.py"
    module.write_text(f"def helper():\n    {short[-1]}\n")
    assert leaks.scan_student_facing([tmp_path]) == []
    module.write_text(f"def helper():\n    {short[-1]}\n    {short[-2]}\n")
    assert leaks.scan_student_facing([tmp_path])
    module.write_text(f"def helper():\n    {long}\n")
    assert leaks.scan_student_facing([tmp_path]) == [f"{module}: contains the secret line {long!r}"]
    notes = tmp_path / "helpers.md"  # not code: even one short line counts
    module.unlink()
    notes.write_text(f"    {short[-1]}\n")
    assert leaks.scan_student_facing([tmp_path])


def test_compiled_python_and_gradebooks_are_flagged(tmp_path):
    (tmp_path / "aekit" / "__pycache__").mkdir(parents=True)
    (tmp_path / "aekit" / "__pycache__" / "engine.cpython-311.pyc").write_bytes(b"\x00\x01")
    (tmp_path / "gradebook.db").write_bytes(b"SQLite format 3\x00")
    found = leaks.scan_student_facing([tmp_path])
    assert any("is compiled Python" in problem for problem in found)
    assert any("gradebook.db is the instructor's gradebook" in problem for problem in found)


def test_the_files_inside_a_zip_are_scanned(tmp_path):
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.write(COURSE_ROOT / "autograder" / "engine.py", "course/autograder/engine.py")
        bundle.write(RELEASE, f"course/{ASSIGNMENT}/{NOTEBOOK}")
    found = leaks.scan_student_facing([archive])
    assert (
        f"{archive}!course/autograder/engine.py: is a copy of the course's autograder/engine.py"
        in (found)
    )
    assert not [problem for problem in found if NOTEBOOK in problem]


# --- the command line ---------------------------------------------------------------------------


def test_command_line_exit_codes(tmp_path, capsys):
    clean = tmp_path / "clean" / "feedback.html"
    clean.parent.mkdir()
    clean.write_text("<p>kl_divergence: 3 / 3. Your notebook was graded by the autograder.</p>")
    assert leaks.main([str(clean.parent)]) == 0
    leaky = tmp_path / "leaky"
    leaky.mkdir()
    shutil.copy(SOURCE, leaky / "copy.ipynb")
    assert leaks.main([str(leaky)]) == 1
    assert "leak: " in capsys.readouterr().err
    assert leaks.main([str(tmp_path / "missing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


# --- real feedback ------------------------------------------------------------------------------

# Mistakes students make, as edits of the solution notebook (cell, old text, new text).
MUTATIONS = {
    "kl-wrong-sign": ("def kl_divergence", "return -0.5 *", "return 0.5 *"),
    "reparam-std-is-exp-logvar": (
        "def reparameterize",
        "torch.exp(0.5 * logvar)",
        "torch.exp(logvar)",
    ),
}


@pytest.mark.slow
def test_feedback_from_grading_holds_no_secret(tmp_path):
    submitted = tmp_path / "submitted"
    notebooks = {"solution": SOLUTION.read_text(), "untouched": RELEASE.read_text()}
    for name, (needle, old, new) in MUTATIONS.items():
        notebooks[name] = json.dumps(edit_cell(json.loads(SOLUTION.read_text()), needle, old, new))
    for name, text in notebooks.items():
        (submitted / name).mkdir(parents=True)
        (submitted / name / NOTEBOOK).write_text(text)
    shared_zygote()  # before the reference is in memory
    reference = load_reference(get_assignment(ASSIGNMENT))
    out = tmp_path / "graded"
    rows = grade_all(submitted, out, reference, jobs=2, limits=Limits(check_seconds=10.0))
    scores = {row.student: row.score for row in rows}
    assert scores["solution"] == get_assignment(ASSIGNMENT).max_score and scores["untouched"] == 0
    assert all(0 < scores[name] < get_assignment(ASSIGNMENT).max_score for name in MUTATIONS)
    results = json.loads((out / "kl-wrong-sign" / "results.json").read_text())
    failed = [test for test in results["tests"] if test["status"] == "failed"]
    assert failed and all(test["name"].startswith("kl_divergence: ") for test in failed)
    assert all(test["output"] for test in failed)  # each failure explained, in the scanned files
    # What students get back: their feedback and results. OUT's own files are the teaching
    # team's (the written-answers sheet holds the model answers by design).
    returned = sorted(out.glob("*/feedback.html")) + sorted(out.glob("*/results.json"))
    assert len(returned) == 2 * len(notebooks)
    assert leaks.scan_student_facing(returned) == []
    assert "model_answer" in (out / "written.csv").read_text().splitlines()[0]


def kl_line() -> str:
    """The solution's KL line, the standard one-liner a correct student also writes."""
    return next(line for line in leaks.secret_lines(SOURCE)["solution"] if "logvar.exp()" in line)


def test_a_students_own_correct_line_in_their_nbgrader_feedback_is_not_a_leak(tmp_path):
    line = kl_line()
    submitted = tmp_path / "submitted" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    submitted.parent.mkdir(parents=True)
    cell = {
        "cell_type": "code",
        "metadata": {},
        "source": f"def kl_divergence(mu, logvar):\n    {line}\n",
    }
    submitted.write_text(
        json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    feedback = tmp_path / "feedback" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    feedback.parent.mkdir(parents=True)
    feedback.write_text(f"<html><body><pre>{html.escape(line)}</pre></body></html>")
    assert leaks.scan_student_facing([tmp_path / "feedback"]) == []
    assert leaks.main([str(tmp_path / "feedback")]) == 0
    other = tmp_path / "feedback" / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    other.parent.mkdir(parents=True)
    shutil.copy(feedback, other)  # bob never wrote it: in his feedback it is a leak
    assert leaks.scan_student_facing([tmp_path / "feedback"]) == [
        f"{other}: contains the secret line {line!r}"
    ]


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: base64.b64encode(text.encode()).decode(),
        lambda text: base64.b64encode(f"x{text}".encode()).decode()[::-1],
        lambda text: text.encode().hex(),
        lambda text: text[::-1],
    ],
    ids=["base64", "base64-shifted-reversed", "hex", "reversed"],
)
def test_an_encoded_solution_line_in_results_json_is_flagged(tmp_path, encode):
    line = kl_line()
    results = tmp_path / "alice" / "results.json"
    results.parent.mkdir()
    message = f"Your code raised RuntimeError: {encode(line)}"
    results.write_text(json.dumps({"score": 0, "tests": [{"name": "x", "output": message}]}))
    [problem] = leaks.scan_student_facing([tmp_path])
    assert problem.startswith(f"{results}: contains the secret line")
