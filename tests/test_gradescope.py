"""The Gradescope autograder zip, run as Gradescope runs it, in a folder that mimics /autograder.

setup.sh needs root and the internet, so the tests run ``run_autograder`` with this machine's
interpreter instead (``AEKIT_PYTHON``) and check setup.sh by syntax and by its pins.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import jsonschema
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aekit.cli import main as aekit
from autograder import gradescope_run
from autograder.assignments import COURSE_ROOT, get_assignment
from autograder.gradescope import build

ASSIGNMENT = "mnist_autoencoders"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
MAX_SCORE = get_assignment(ASSIGNMENT).max_score  # the checks' points (written: by hand)
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}

# Gradescope's results.json as its specification documents it (gradescope/autograder_samples,
# docs/specs.md): every documented field, nothing else; a score at the top or on every test.
RESULTS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "test_name_format": FORMAT,
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "score": {"type": "number"},
                    "max_score": {"type": "number", "minimum": 0},
                    "status": {"enum": ["passed", "failed"]},
                    "name": {"type": "string"},
                    "name_format": FORMAT,
                    "number": {"type": "string"},
                    "output": {"type": "string"},
                    "output_format": FORMAT,
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "visibility": VISIBILITY,
                    "extra_data": {"type": "object"},
                },
                "additionalProperties": False,
            },
        },
        "leaderboard": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "value"],
                "properties": {
                    "name": {"type": "string"},
                    "value": {"type": ["number", "string"]},
                    "order": {"enum": ["asc", "desc"]},
                },
                "additionalProperties": False,
            },
        },
    },
    "anyOf": [
        {"required": ["score"]},
        {"required": ["tests"], "properties": {"tests": {"items": {"required": ["score"]}}}},
    ],
    "additionalProperties": False,
}


def run_autograder(root: Path, python: str = sys.executable) -> tuple[dict, str]:
    """Run the bundle's run_autograder as Gradescope would; results.json (validated) and stdout."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("AEKIT_", "PYTHON"))
    }
    environment.update(AUTOGRADER_ROOT=str(root), AEKIT_PYTHON=python)
    finished = subprocess.run(
        [str(root / "source" / "run_autograder")],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, RESULTS_SCHEMA)
    return results, finished.stdout + finished.stderr


def submit(root: Path, content: str | bytes, name: str = NOTEBOOK) -> None:
    path = root / "submission" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())


def committed(kind: str) -> bytes:
    return (COURSE_ROOT / kind / ASSIGNMENT / NOTEBOOK).read_bytes()


def assert_consistent(results: dict) -> None:
    """The score is the sum of the tests', each test named ``<grade_id>: <what it checks>``."""
    exercises = set(get_assignment(ASSIGNMENT).exercises)
    assert results["score"] == pytest.approx(sum(test["score"] for test in results["tests"]))
    assert sum(test["max_score"] for test in results["tests"]) == pytest.approx(MAX_SCORE)
    for test in results["tests"]:
        assert test["name"].split(": ", 1)[0] in exercises


# --- the zip --------------------------------------------------------------------------------------


def test_zip_holds_scripts_library_grader_and_the_one_source_notebook(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    names = set(modes)
    assert {"setup.sh", "run_autograder", "requirements.txt"} <= names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert {
        "aekit/checks/__init__.py",
        "autograder/engine.py",
        "autograder/hidden/mnist.py",
    } <= names
    assert {name for name in names if name.startswith("source/")} == {
        f"source/{ASSIGNMENT}/{NOTEBOOK}"
    }
    assert not [name for name in names if name.startswith(("release/", "solutions/"))]
    assert not [name for name in names if name.endswith(".pyc") or "__pycache__" in name]
    assert "gradebook.db" not in {Path(name).name for name in names}


def test_zip_is_reproducible(autograder_zip, tmp_path):
    again = build(get_assignment(ASSIGNMENT), tmp_path / "again.zip", check_reference=False)
    assert again.read_bytes() == autograder_zip.read_bytes()


def test_scripts_are_valid_bash(root):
    for name in ("setup.sh", "run_autograder"):
        finished = subprocess.run(["bash", "-n", str(root / "source" / name)], capture_output=True)
        assert finished.returncode == 0, finished.stderr.decode()


def test_setup_pins_the_versions_of_pyproject(root):
    project = tomllib.loads((COURSE_ROOT / "pyproject.toml").read_text())["project"]
    sandbox = [pin for pin in project["optional-dependencies"]["instructor"] if "seccomp" in pin]
    requirements = (root / "source" / "requirements.txt").read_text().splitlines()
    pins = [line for line in requirements if line and not line.startswith("#")]
    assert pins == project["dependencies"] + sandbox and sandbox
    setup = (root / "source" / "setup.sh").read_text()
    assert "apt-get install -y -q bubblewrap libseccomp2" in setup  # the sandbox's tools
    assert '-r "$SOURCE/requirements.txt"' in setup
    assert "https://download.pytorch.org/whl/cpu" in setup  # CPU-only torch fits 768 MB
    assert "python3.11 -m venv" in setup and 'VENV="${AEKIT_VENV:-/opt/aekit}"' in setup
    assert 'chmod -R go-rwx "$SOURCE"' in setup  # the grader and the solutions: root only
    assert 'mv "$SOURCE/aekit"' in setup  # the public library moves into the readable venv


def test_setup_locks_every_hidden_part(root):
    """After setup.sh, source/ holds the grader and the solutions only, locked to root."""
    setup = (root / "source" / "setup.sh").read_text()
    locked_at = setup.index('chmod -R go-rwx "$SOURCE"')
    moved_at = setup.index('mv "$SOURCE/aekit"')
    assert moved_at < locked_at
    remaining = {path.name for path in (root / "source").iterdir()} - {"aekit"}
    assert remaining == {"autograder", "source", "setup.sh", "run_autograder", "requirements.txt"}


def test_cli_refuses_an_unknown_assignment_without_a_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        aekit(["gradescope", "no_such_assignment", "--out", str(tmp_path / "a.zip")])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'no_such_assignment'" in error and "Traceback" not in error
    assert not (tmp_path / "a.zip").exists()


def test_cli_refuses_a_folder_as_out(tmp_path, capsys):
    assert aekit(["gradescope", ASSIGNMENT, "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


# --- run_autograder -------------------------------------------------------------------------------


@pytest.mark.slow
def test_solution_scores_full_marks_with_the_bundled_grader(root):
    submit(root, committed("solutions"), "whatever I called it.ipynb")
    results, output = run_autograder(root)
    assert results["score"] == MAX_SCORE, results["output"]
    assert all(test["status"] == "passed" for test in results["tests"])
    assert_consistent(results)
    assert f"graded by {root / 'source' / 'autograder'}" in output  # not the course's copy


@pytest.mark.slow
def test_untouched_release_scores_zero_without_error(root):
    submit(root, committed("release"))
    results, _ = run_autograder(root)
    assert results["score"] == 0
    assert_consistent(results)
    assert "not graded" not in results["output"]
    assert "could not be read" not in results["output"]
    assert {test["status"] for test in results["tests"]} == {"failed"}


def test_invalid_json_scores_zero_with_a_message(root):
    submit(root, "{ this is not a notebook")
    results, _ = run_autograder(root)
    assert results["score"] == 0
    assert_consistent(results)
    assert "is not valid JSON" in results["output"]
    assert all("is not valid JSON" in test["output"] for test in results["tests"])


def test_results_are_written_even_when_python_cannot_start(root):
    submit(root, committed("solutions"))
    results, _ = run_autograder(root, python=str(root / "no" / "python"))
    assert results["score"] == 0 and results["tests"] == []
    assert "not graded" in results["output"] and "tell your instructor" in results["output"]


def test_a_grader_failure_scores_zero_and_lists_the_exercises(tmp_path, monkeypatch, capsys):
    def failing(root, name):
        raise RuntimeError("the reference is gone")

    monkeypatch.setattr(gradescope_run, "grade", failing)
    monkeypatch.setenv("AUTOGRADER_ROOT", str(tmp_path))
    assert gradescope_run.main([ASSIGNMENT]) == 0
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    jsonschema.validate(results, RESULTS_SCHEMA)
    assert results["score"] == 0 and "not your fault" in results["output"]
    assert_consistent(results)
    assert "the reference is gone" in capsys.readouterr().out  # for the instructor's eyes only


# --- finding the notebook -----------------------------------------------------------------------


def notebook_in(submission: Path, *names: str) -> str:
    for name in names:
        (submission / name).parent.mkdir(parents=True, exist_ok=True)
        (submission / name).write_text("{}")
    found = gradescope_run.find_notebook(submission, ASSIGNMENT)
    return found.relative_to(submission).as_posix()


def test_one_notebook_is_graded_whatever_its_name_or_folder(tmp_path):
    assert notebook_in(tmp_path, "hw/my work (1).ipynb", "notes.txt") == "hw/my work (1).ipynb"


def test_among_several_notebooks_the_one_named_for_the_assignment_is_graded(tmp_path):
    assert notebook_in(tmp_path, "draft.ipynb", f"final/{NOTEBOOK}") == f"final/{NOTEBOOK}"


def test_checkpoints_and_hidden_folders_are_ignored(tmp_path):
    names = ("a.ipynb", ".ipynb_checkpoints/a-checkpoint.ipynb", "__MACOSX/._a.ipynb")
    assert notebook_in(tmp_path, *names) == "a.ipynb"


def test_a_notebook_that_links_elsewhere_is_refused(tmp_path):
    (tmp_path / NOTEBOOK).symlink_to(COURSE_ROOT / "solutions" / ASSIGNMENT / NOTEBOOK)
    with pytest.raises(gradescope_run.SubmissionProblem, match="is a symbolic link: upload"):
        gradescope_run.find_notebook(tmp_path, ASSIGNMENT)


@pytest.mark.slow
def test_a_link_to_the_bundles_own_source_notebook_scores_nothing(root):
    # A repository submitted from GitHub can hold a symbolic link; the bundle's source
    # notebook, the solutions, is at a path anyone can read in these tests.
    (root / "submission" / NOTEBOOK).symlink_to(root / "source" / "source" / ASSIGNMENT / NOTEBOOK)
    results, _ = run_autograder(root)
    assert results["score"] == 0
    assert f"{NOTEBOOK} is a symbolic link: upload the notebook itself." in results["output"]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ((), "No notebook (.ipynb) in your submission. Upload your mnist_autoencoders.ipynb."),
        (("homework.py",), "No notebook (.ipynb) in your submission (found: homework.py)."),
        (("draft.ipynb", "final.ipynb"), "holds 2 notebooks (draft.ipynb, final.ipynb); upload"),
    ],
)
def test_a_submission_without_exactly_one_notebook_is_explained(tmp_path, names, message):
    with pytest.raises(gradescope_run.SubmissionProblem, match=re.escape(message)):
        notebook_in(tmp_path, *names)


# --- nothing to steal ---------------------------------------------------------------------------

STEAL = """
import json as _json

_SOLUTIONS = {path!r}


def _steal():
    for cell in _json.load(open(_SOLUTIONS))["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "code" and "BEGIN SOLUTION" in text:
            exec(text, globals())
    return True


_STOLEN = _steal()
"""


def with_cell(notebook: bytes, source: str) -> str:
    document = json.loads(notebook)
    document["cells"].append(
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": source,
            "id": "steal",
        }
    )
    return json.dumps(document)


@pytest.mark.slow
@pytest.mark.parametrize(("where", "expected"), [("locked", 0.0), ("readable", MAX_SCORE)])
def test_a_submission_that_reads_the_solutions_gets_them_only_where_the_sandbox_reads(
    root, where, expected
):
    """The bundle's source notebook is out of the sandbox's reach; the control, a copy put
    where the sandbox may read (beside aekit), shows that the stealing code itself works."""
    solutions = root / "source" / "source" / ASSIGNMENT / NOTEBOOK
    if where == "readable":
        solutions = Path(shutil.copy(solutions, root / "source" / "aekit" / "copied.ipynb"))
    stealing = STEAL.format(path=str(solutions))
    outside = {"torch": torch, "nn": nn, "F": F}
    exec(stealing, outside)  # unfenced, the same code gets every solution
    assert outside["kl_divergence"](torch.zeros(3, 2), torch.zeros(3, 2)).tolist() == [0.0] * 3
    submit(root, with_cell(committed("release"), stealing))
    results, _ = run_autograder(root)
    assert results["score"] == expected, results["output"]


@pytest.mark.slow
def test_hidden_checks_show_after_the_due_date_with_no_total_that_counts_them(root):
    submit(root, committed("solutions"))
    results, _ = run_autograder(root)
    hidden = [test for test in results["tests"] if test["extra_data"]["hidden"]]
    public = [test for test in results["tests"] if not test["extra_data"]["hidden"]]
    assert hidden and {test["visibility"] for test in hidden} == {"after_due_date"}
    assert public and {test["visibility"] for test in public} == {"visible"}
    assert f"{MAX_SCORE:g} / " not in results["output"]  # the summary counts public checks only
    assert "written answers: 4 points, marked by hand on Gradescope" in results["output"]


def test_the_hidden_checks_visibility_is_the_bundles_choice(tmp_path, capsys):
    bundle = tmp_path / "visible.zip"
    command = ["gradescope", ASSIGNMENT, "--out", str(bundle), "--hidden-checks", "visible"]
    assert aekit(command) == 0
    with zipfile.ZipFile(bundle) as archive:
        assert 'AEKIT_HIDDEN_CHECKS="visible"' in archive.read("run_autograder").decode()
    with pytest.raises(SystemExit):
        aekit(["gradescope", ASSIGNMENT, "--out", str(bundle), "--hidden-checks", "later"])
    assert "invalid choice: 'later'" in capsys.readouterr().err
