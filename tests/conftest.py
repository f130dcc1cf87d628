"""Shared test set-up: the grader's imports resolve from the course root, plots stay off-screen."""

import os
import sys
import zipfile
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def reference():
    """The mnist_autoencoders reference, loaded once (its child stays up for the session)."""
    from autograder.assignments import get_assignment
    from autograder.reference import load_reference
    from autograder.sandbox import shared_zygote

    shared_zygote()  # before the reference is in memory
    found = load_reference(get_assignment("mnist_autoencoders"))
    yield found
    found.close()


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory) -> Path:
    """The Gradescope zip for mnist_autoencoders, built once (its reference is checked)."""
    from autograder.assignments import get_assignment
    from autograder.gradescope import build

    zip_path = tmp_path_factory.mktemp("gradescope") / "ag.zip"
    return build(get_assignment("mnist_autoencoders"), zip_path)


@pytest.fixture
def root(autograder_zip, tmp_path) -> Path:
    """A fresh /autograder: the zip unpacked into source/, empty submission/ and results/."""
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(tmp_path / "source")
    for name in ("setup.sh", "run_autograder"):
        (tmp_path / "source" / name).chmod(0o755)  # extractall drops the modes
    (tmp_path / "submission").mkdir()
    (tmp_path / "results").mkdir()
    return tmp_path
