"""The student bundle: what it holds, what it never holds, and that a student can use it."""

import argparse
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from aekit.cli import main as aekit
from autograder import bundle
from autograder.assignments import COURSE_ROOT

ASSIGNMENT = "mnist_autoencoders"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The bundle's files, assembled once (the scan has its own test)."""
    out = tmp_path_factory.mktemp("bundle") / "course"
    out.mkdir()
    bundle.assemble(out)
    return out


@pytest.fixture(scope="module")
def unpacked(built, tmp_path_factory) -> Path:
    """The bundle as a zip, unpacked as a student would: one folder named after the zip."""
    folder = tmp_path_factory.mktemp("zip")
    bundle.publish(built, folder / "course.zip")
    with zipfile.ZipFile(folder / "course.zip") as archive:
        assert {name.split("/")[0] for name in archive.namelist()} == {"course"}
        archive.extractall(folder / "student")
    return folder / "student" / "course"


def test_the_course_bundle_is_clean_and_written(tmp_path, capsys):
    """``aekit bundle`` on this course: scanned, no leak, written as a folder and as a zip."""
    assert aekit(["bundle", "--out", str(tmp_path / "folder")]) == 0, capsys.readouterr().err
    assert aekit(["bundle", "--out", str(tmp_path / "course.zip")]) == 0
    assert "no solution, hidden test or grader code" in capsys.readouterr().out
    with zipfile.ZipFile(tmp_path / "course.zip") as archive:
        names = {name.removeprefix("course/") for name in archive.namelist()}
    assert names == files(tmp_path / "folder")


def files(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def test_bundle_holds_release_notebooks_library_environment_and_readme(built):
    held = files(built)
    assert {
        f"{ASSIGNMENT}/{NOTEBOOK}",
        "aekit/__init__.py",
        "aekit/checks/__init__.py",
        "aekit/checks/mnist.py",
        "environment.yml",
        "requirements.txt",
        "pyproject.toml",
        "README.md",
        "data/README.md",
    } <= held
    release = COURSE_ROOT / "release" / ASSIGNMENT / NOTEBOOK
    assert (built / ASSIGNMENT / NOTEBOOK).read_bytes() == release.read_bytes()
    if (COURSE_ROOT / "environment.yml").exists():
        assert (built / "environment.yml").read_text() == (
            COURSE_ROOT / "environment.yml"
        ).read_text()
    library = {
        f"aekit/{path}" for path in files(COURSE_ROOT / "aekit") if "__pycache__" not in path
    }
    assert {path for path in held if path.startswith("aekit/")} == library


def test_bundle_lacks_grader_sources_solutions_and_compiled_code(built):
    held = files(built)
    top = {path.split("/")[0] for path in held}
    assert not top & {"autograder", "source", "solutions", "release", "tests", "nbgrader_config.py"}
    assert not [path for path in held if path.endswith(".pyc") or "__pycache__" in path]
    secrets = {
        (COURSE_ROOT / kind / ASSIGNMENT / NOTEBOOK).read_bytes()
        for kind in ("source", "solutions")
    }
    assert not [path for path in held if (built / path).read_bytes() in secrets]


def test_the_zip_unpacks_to_the_same_bundle(built, unpacked):
    assert files(unpacked) == files(built)
    assert (unpacked / "README.md").read_text() == (built / "README.md").read_text()


def test_pip_files_pin_what_pyproject_pins_and_install_aekit_only(built):
    course = tomllib.loads((COURSE_ROOT / "pyproject.toml").read_text())["project"]
    student = tomllib.loads((built / "pyproject.toml").read_text())
    assert student["project"]["dependencies"] == course["dependencies"]
    assert student["project"]["scripts"] == {"aekit": "aekit.cli:main"}
    assert student["tool"]["setuptools"]["packages"]["find"]["include"] == ["aekit*"]
    lines = (built / "requirements.txt").read_text().splitlines()
    assert [line for line in lines if line and not line.startswith("#")] == course["dependencies"]


def test_a_student_imports_the_public_checks_from_the_unpacked_bundle(unpacked, tmp_path):
    """A fresh interpreter with only the bundle on its path: no course checkout, no grader."""
    script = """
import sys
# This venv installs the course in editable mode; a student's machine has no such finders.
def _editable(item):
    return "__editable__" in str(getattr(item, "__module__", "")) + str(item)
sys.meta_path[:] = [finder for finder in sys.meta_path if not _editable(finder)]
sys.path_hooks[:] = [hook for hook in sys.path_hooks if not _editable(hook)]
sys.path[:] = [entry for entry in sys.path if "__editable__" not in entry]
sys.path_importer_cache.clear()
import importlib.util
assert importlib.util.find_spec("autograder") is None, "the grader is importable"
import aekit.checks
from aekit.checks import ChecksFailed, check
print(aekit.checks.__file__)

def kl_divergence(mu, logvar):
    raise NotImplementedError()

try:
    check("kl_divergence", namespace={"kl_divergence": kl_divergence})
except ChecksFailed as failed:
    print("refused:", failed)
"""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment.update(PYTHONPATH=str(unpacked), PYTHONNOUSERSITE="1", MPLBACKEND="Agg")
    finished = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.splitlines()
    assert lines[0] == str(unpacked / "aekit" / "checks" / "__init__.py")
    assert "kl_divergence: 0 of" in finished.stdout and lines[-1].startswith("refused:")


def test_readme_covers_setup_data_checks_fast_mode_and_submitting(built):
    readme = (built / "README.md").read_text()
    for needed in (
        f"`{ASSIGNMENT}/{NOTEBOOK}`",
        "conda env create -f environment.yml",
        "python3.11 -m venv .venv",
        "pip install -r requirements.txt",
        "pip install --no-deps -e .",
        "https://download.pytorch.org/whl/cpu",
        "aekit data mnist",
        'check("kl_divergence")',
        "AEKIT_FAST=1",
        "## Submitting",
    ):
        assert needed in readme, needed


def test_a_bundle_that_would_leak_is_refused_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    assemble = bundle.assemble

    def with_grader(target, root=COURSE_ROOT):
        notebooks = assemble(target, root)
        shutil.copytree(
            root / "autograder", target / "autograder", ignore=shutil.ignore_patterns("__pycache__")
        )
        return notebooks

    monkeypatch.setattr(bundle, "assemble", with_grader)
    for out in (tmp_path / "folder", tmp_path / "course.zip"):
        assert bundle.run(argparse.Namespace(out=str(out))) == 1
        error = capsys.readouterr().err
        assert "refusing to write a bundle that leaks" in error
        assert "autograder/engine.py: is a copy of the course's autograder/engine.py" in error
        assert "Traceback" not in error
        assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_never_overwritten(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert aekit(["bundle", "--out", str(tmp_path)]) == 2
    assert "already exists and is not an empty folder" in capsys.readouterr().err
    assert files(tmp_path) == {"notes.txt"}


def test_make_check_builds_the_bundle():
    makefile = (COURSE_ROOT / "Makefile").read_text()
    check = makefile.split("\ncheck:", 1)[1].split("\n\n", 1)[0]
    assert "aekit bundle --out" in check and "autograder.leaks" in check
