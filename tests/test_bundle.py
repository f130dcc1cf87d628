"""The student bundle: what it holds, what it never holds, and that a student can use it."""

import argparse
import importlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from aekit.cli import main as aekit
from aekit.runtime import fast_mode
from aekit.training import TrainConfig
from autograder import bundle
from autograder.assignments import ASSIGNMENTS, COURSE_ROOT
from autograder.gradescope import TORCH_INDEX

ASSIGNMENT = "mnist_autoencoders"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
ZIP_NAME = "autoencoders.zip"  # not "course.zip": the README must follow the zip's own name
INSTRUCTOR_COMMANDS = {
    "release",
    "grade",
    "gradescope",
    "bundle",
    "demo",
    "run-notebooks",
    "merge",
    "canvas",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The bundle's files, assembled once (the scan has its own test)."""
    out = tmp_path_factory.mktemp("bundle") / "course"
    out.mkdir()
    bundle.assemble(out)
    return out


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    """A student's downloads folder holding the zip that ``aekit bundle`` wrote."""
    folder = tmp_path_factory.mktemp("downloads")
    assert aekit(["bundle", "--out", str(folder / ZIP_NAME)]) == 0
    return folder


@pytest.fixture(scope="module")
def unpacked(downloads) -> Path:
    """The folder the README's own unpacking commands lead to, run as written."""
    readme = zip_readme(downloads / ZIP_NAME)
    finished = bash(block_after(readme, "## Unpack") + ["pwd"], cwd=downloads)
    assert finished.returncode == 0, finished.stderr
    return Path(finished.stdout.splitlines()[-1])


def zip_readme(archive: Path) -> str:
    with zipfile.ZipFile(archive) as opened:
        return next(
            opened.read(name).decode() for name in opened.namelist() if name.endswith("/README.md")
        )


def block_after(text: str, marker: str) -> list[str]:
    """The lines of the first indented (4 spaces) block after ``marker``, unindented."""
    lines = text.split(marker, 1)[1].splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("    "))
    block = []
    for line in lines[start:]:
        if not line.startswith("    "):
            break
        block.append(line[4:])
    return block


def bash(lines: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-ec", "\n".join(lines)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def files(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def pins_of(text: str) -> list[str]:
    """The ``name==version`` lines of a requirements file, in order."""
    return [line for line in text.splitlines() if line and not line.startswith(("#", "-"))]


def project() -> dict:
    return tomllib.loads((COURSE_ROOT / "pyproject.toml").read_text())["project"]


def torch_pins() -> list[str]:
    return [
        pin for pin in project()["dependencies"] if pin.split("==")[0] in ("torch", "torchvision")
    ]


# --- what the bundle holds ------------------------------------------------------------------


def test_the_course_bundle_is_clean_and_written(tmp_path, capsys):
    """``aekit bundle`` on this course: scanned, no leak, written as a folder and as a zip."""
    assert aekit(["bundle", "--out", str(tmp_path / "folder")]) == 0, capsys.readouterr().err
    assert aekit(["bundle", "--out", str(tmp_path / "course.zip")]) == 0
    assert "no solution, hidden test or grader code" in capsys.readouterr().out
    with zipfile.ZipFile(tmp_path / "course.zip") as archive:
        names = {name.removeprefix("course/") for name in archive.namelist()}
    assert names == files(tmp_path / "folder")


def test_bundle_holds_release_notebooks_library_environment_and_readme(built):
    held = files(built)
    assert {
        f"{ASSIGNMENT}/{NOTEBOOK}",
        "aekit/__init__.py",
        "aekit/checks/__init__.py",
        "aekit/checks/mnist.py",
        "environment.yml",
        "requirements.txt",
        "requirements-no-torch.txt",
        "pyproject.toml",
        "README.md",
        "data/README.md",
    } <= held
    release = COURSE_ROOT / "release" / ASSIGNMENT / NOTEBOOK
    assert (built / ASSIGNMENT / NOTEBOOK).read_bytes() == release.read_bytes()
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


# --- unpacking as the README says -------------------------------------------------------------


def test_the_zip_holds_one_folder_named_after_it(downloads):
    with zipfile.ZipFile(downloads / ZIP_NAME) as archive:
        assert {name.split("/")[0] for name in archive.namelist()} == {Path(ZIP_NAME).stem}


def test_the_readmes_unpacking_commands_lead_into_the_bundle(downloads, unpacked, built):
    """``unzip`` and ``cd`` exactly as the README writes them end in a folder that holds the
    bundle, not a folder within a folder."""
    assert unpacked.parent == downloads
    assert files(unpacked) == files(built)
    for name in files(built) - {"README.md"}:
        assert (unpacked / name).read_bytes() == (built / name).read_bytes(), name


def test_every_file_the_readme_names_is_where_it_says(unpacked):
    readme = (unpacked / "README.md").read_text()
    named = set(
        re.findall(
            r"(?<![\w./$~-])((?:[\w-]+/)*[\w-]+\.(?:ipynb|txt|yml|toml|md))(?![\w.])", readme
        )
    )
    assert {"requirements.txt", "environment.yml", "requirements-no-torch.txt"} <= named
    assert [name for name in sorted(named) if not (unpacked / name).is_file()] == []


def test_the_readme_orders_the_notebooks_as_the_course_does_mnist_first(built):
    readme = (built / "README.md").read_text()
    order = [name for name in ASSIGNMENTS if (built / name).is_dir()]
    assert order[0] == "mnist_autoencoders"
    listed = [readme.index(f"`{name}/{name}.ipynb`") for name in order]
    assert listed == sorted(listed)
    assert f"jupyter lab {order[0]}/{order[0]}.ipynb" in readme
    for section in readme.split("\n## "):
        lowered = section.lower()
        if "mnist" in lowered and "cardiac" in lowered:
            assert lowered.index("mnist") < lowered.index("cardiac"), section[:40]


# --- what a student installs --------------------------------------------------------------------


def test_pip_files_pin_what_pyproject_pins_and_install_aekit_only(built):
    course = project()
    student = tomllib.loads((built / "pyproject.toml").read_text())
    assert student["project"]["dependencies"] == course["dependencies"]
    assert student["project"]["scripts"] == {"aekit": "aekit.cli:entry"}
    assert student["tool"]["setuptools"]["packages"]["find"]["include"] == ["aekit*"]
    assert pins_of((built / "requirements.txt").read_text()) == course["dependencies"]


def test_the_students_environment_holds_the_project_dependencies_only(built):
    """No instructor tool (nbgrader, pytest, ruff, ...) in any file a student installs from."""
    course = project()
    environment = yaml.safe_load((built / "environment.yml").read_text())
    pip = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    assert [entry for entry in pip if "==" in entry] == course["dependencies"]
    assert pip[-1] == "-e ."
    python = course["requires-python"].removeprefix(">=")
    assert f"python={python}" in environment["dependencies"]
    extras = [pin for pins in course["optional-dependencies"].values() for pin in pins]
    names = {pin.split("==")[0] for pin in extras}
    for student_file in ("environment.yml", "requirements.txt", "requirements-no-torch.txt"):
        text = (built / student_file).read_text()
        assert not [name for name in names if re.search(rf"(?m)^\W*{name}\b", text)], student_file


def test_torch_comes_from_the_cpu_only_index_by_default(built):
    index_option = f"--extra-index-url {TORCH_INDEX}"
    requirements = (built / "requirements.txt").read_text().splitlines()
    assert index_option in requirements
    environment = yaml.safe_load((built / "environment.yml").read_text())
    pip = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    assert pip[0] == index_option
    assert [pin for pin in pip if pin in torch_pins()] == torch_pins()


def test_the_cuda_route_is_one_line_in_the_readme(built):
    readme = (built / "README.md").read_text()
    cuda = block_after(readme, "NVIDIA GPU")
    assert len(cuda) == 1
    assert "pip uninstall -y torch torchvision" in cuda[0]
    assert f"pip install {' '.join(torch_pins())}" in cuda[0]
    assert TORCH_INDEX not in cuda[0]


def test_requirements_without_torch_keep_the_servers_torch_and_jupyter(built):
    kept = pins_of((built / "requirements-no-torch.txt").read_text())
    server = ("torch==", "torchvision==", "jupyter==", "ipykernel==")
    expected = [pin for pin in project()["dependencies"] if not pin.startswith(server)]
    assert kept and kept == expected
    assert TORCH_INDEX not in (built / "requirements-no-torch.txt").read_text()


def test_readme_covers_setup_data_checks_fast_mode_and_submitting(built):
    readme = (built / "README.md").read_text()
    for needed in (
        f"`{ASSIGNMENT}/{NOTEBOOK}`",
        "conda env create -f environment.yml",
        "python3.11 -m venv .venv",
        "pip install -r requirements.txt",
        "pip install --no-deps -e .",
        "pip install -r requirements-no-torch.txt",
        "aekit data mnist",
        'check("kl_divergence")',
        "AEKIT_FAST=1",
        "## Submitting",
    ):
        assert needed in readme, needed
    for pin in torch_pins():
        assert pin.replace("==", " ") in readme  # the versions known to work


def test_fast_mode_needs_no_restart_as_the_readme_says(built, monkeypatch):
    """``%env`` sets os.environ in the running kernel; the kit reads it when training starts."""
    fast = (built / "README.md").read_text().split("## Fast mode", 1)[1].split("\n## ", 1)[0]
    assert "%env AEKIT_FAST=1" in fast and "No restart is needed" in fast
    assert "restart the kernel" not in fast
    config = TrainConfig()
    monkeypatch.setenv("AEKIT_FAST", "1")
    assert fast_mode() and config.is_fast
    monkeypatch.setenv("AEKIT_FAST", "0")
    assert not fast_mode() and not config.is_fast


# --- the bundle on a student's machine ----------------------------------------------------------

# This venv installs the course in editable mode; a student's machine has no such finders.
WITHOUT_THE_COURSE = """
import sys
def _editable(item):
    return "__editable__" in str(getattr(item, "__module__", "")) + str(item)
sys.meta_path[:] = [finder for finder in sys.meta_path if not _editable(finder)]
sys.path_hooks[:] = [hook for hook in sys.path_hooks if not _editable(hook)]
sys.path[:] = [entry for entry in sys.path if "__editable__" not in entry]
sys.path_importer_cache.clear()
import importlib.util
assert importlib.util.find_spec("autograder") is None, "the grader is importable"
"""


def bundle_python(unpacked: Path, cwd: Path, script: str, *args: str):
    """Run ``script`` in a fresh interpreter whose path holds the bundle and no course."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "NBGRADER_EXECUTION")
    }
    environment.update(PYTHONPATH=str(unpacked), PYTHONNOUSERSITE="1", MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_THE_COURSE + script, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def listed_commands(help_text: str) -> set[str]:
    """The sub-commands ``aekit --help`` lists (one per line, indented under COMMAND)."""
    section = help_text.split("positional arguments:", 1)[1].split("options:", 1)[0]
    return {match for match in re.findall(r"(?m)^    (\S+)", section)}


def test_a_student_imports_the_public_checks_from_the_unpacked_bundle(unpacked, tmp_path):
    """A fresh interpreter with only the bundle on its path: no course checkout, no grader."""
    script = """
import aekit.checks
from aekit.checks import check
print(aekit.checks.__file__)

def kl_divergence(mu, logvar):
    raise NotImplementedError()

results = check("kl_divergence", namespace={"kl_divergence": kl_divergence})
print("passed", sum(result.verdict.passed for result in results), "of", len(results))
"""
    finished = bundle_python(unpacked, tmp_path, script)
    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.splitlines()
    assert lines[0] == str(unpacked / "aekit" / "checks" / "__init__.py")
    assert "kl_divergence: 0 of" in finished.stdout
    assert re.fullmatch(r"passed 0 of [1-9]\d*", lines[-1]), lines[-1]


def test_the_bundles_aekit_lists_only_what_runs_without_the_grader(unpacked, tmp_path):
    run_cli = "from aekit.cli import main\nsys.argv[0] = 'aekit'\nraise SystemExit(main())"
    shown = bundle_python(unpacked, tmp_path, run_cli, "--help")
    assert shown.returncode == 0, shown.stderr
    assert listed_commands(shown.stdout) == {"data"}
    refused = bundle_python(unpacked, tmp_path, run_cli, "grade", "x", "y", "--out", "z")
    assert refused.returncode == 2
    assert "invalid choice: 'grade'" in refused.stderr and "Traceback" not in refused.stderr


def test_the_courses_aekit_lists_the_instructor_commands():
    shown = subprocess.run(
        [sys.executable, "-m", "aekit", "--help"],
        cwd=COURSE_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert listed_commands(shown.stdout) == {"data"} | INSTRUCTOR_COMMANDS


@pytest.mark.slow
def test_a_server_with_its_own_torch_keeps_it(unpacked, tmp_path):
    """The README's Colab/JupyterHub commands, run for real in a venv that already has torch:
    they install aekit and add no torch, CUDA library or triton of their own.

    The server's packages are this venv's, seen through a .pth file (``--system-site-packages``
    would show the base interpreter's, which has no torch). pip runs offline: the documented
    commands with ``--no-index --no-build-isolation`` appended, and no pip configuration.
    """
    server = tmp_path / "server"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(server)], check=True)
    site = Path(
        subprocess.check_output(
            [
                server / "bin" / "python",
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ],
            text=True,
        ).strip()
    )
    packages = Path(importlib.util.find_spec("torch").submodule_search_locations[0]).parent
    (site / "server-packages.pth").write_text(f"{packages}\n")
    (server / "bin" / "pip").write_text('#!/bin/sh\nexec "$(dirname "$0")/python" -m pip "$@"\n')
    (server / "bin" / "pip").chmod(0o755)
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))
    }
    environment.update(
        PATH=f"{server / 'bin'}{os.pathsep}{os.environ['PATH']}",
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONNOUSERSITE="1",
    )
    readme = (unpacked / "README.md").read_text()
    commands = block_after(readme, "Google Colab")
    assert commands and all(command.startswith("pip install") for command in commands)
    offline = [f"{command} --no-index --no-build-isolation" for command in commands]
    finished = bash(offline, cwd=unpacked, env=environment)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]

    own = {
        dist.metadata["Name"].lower() for dist in importlib.metadata.distributions(path=[str(site)])
    }
    assert own == {"aekit"}  # no torch, nvidia-*, triton or cuda-* of its own
    probe = "import aekit, torch; print(aekit.__file__, torch.__file__, torch.__version__)"
    found = subprocess.run(
        [server / "bin" / "python", "-c", probe],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert found.returncode == 0, found.stderr
    torch = importlib.import_module("torch")  # the server's torch: this venv's, untouched
    assert found.stdout.split() == [
        str(unpacked / "aekit" / "__init__.py"),
        torch.__file__,
        torch.__version__,
    ]
    shown = subprocess.run(
        [server / "bin" / "aekit", "--help"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert listed_commands(shown.stdout) == {"data"}


# --- refusals -----------------------------------------------------------------------------------


def test_a_bundle_that_would_leak_is_refused_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    assemble = bundle.assemble

    def with_grader(target, root=COURSE_ROOT, folder="course"):
        notebooks = assemble(target, root, folder)
        shutil.copytree(
            root / "autograder", target / "autograder", ignore=shutil.ignore_patterns("__pycache__")
        )
        return notebooks

    monkeypatch.setattr(bundle, "assemble", with_grader)
    for out in (tmp_path / "folder", tmp_path / "course.zip"):
        assert bundle.run(argparse.Namespace(out=str(out))) == 1
        error = capsys.readouterr().err
        assert "refusing to write a bundle that leaks" in error
        assert (
            "autograder/assignments.py: is a copy of the course's autograder/assignments.py"
            in error
        )
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
