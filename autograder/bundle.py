"""``aekit bundle``: assemble what students receive, and refuse to hand out anything that leaks.

    aekit bundle --out DIR          # a folder (new, or empty)
    aekit bundle --out course.zip   # a zip holding one folder, course/

The bundle holds the release notebooks (``release/<assignment>/``, one folder each), the
``aekit`` library with its public checks, ``data/README.md`` and the split manifest,
``environment.yml``, ``requirements.txt`` and a ``pyproject.toml`` (so that ``pip install -e .``
and ``pip install -r requirements.txt`` both work), and a README for students. It never holds
``autograder/``, ``source/`` or ``solutions/``: the bundle is assembled in a scratch folder,
scanned by :func:`autograder.leaks.scan_student_facing`, and written only when clean.

The file walker, the zip writer and the pins are shared with :mod:`autograder.gradescope`.
"""

import re
import shutil
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder.leaks import COURSE_ROOT, scan_student_facing

SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".DS_Store"}
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed: the same inputs give the same zip, byte for byte


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


def requirements_text(pins: list[str], why: str) -> str:
    return f"# {why}\n# Generated from the course's pyproject.toml: the same pins.\n" + "".join(
        f"{pin}\n" for pin in pins
    )


# --- the student bundle ------------------------------------------------------------------------


@dataclass(frozen=True)
class Environment:
    """What the README needs to know of environment.yml."""

    text: str
    name: str
    python: str
    generated: bool  # True when the course has no environment.yml and the bundle made one
    installs_aekit: bool  # True when it ends with ``- -e .`` (pip installs aekit itself)


def release_folders(root: Path = COURSE_ROOT) -> list[Path]:
    """``release/<assignment>/`` folders that hold a notebook."""
    folders = sorted(path for path in (root / "release").glob("*") if path.is_dir())
    return [folder for folder in folders if list(folder.glob("*.ipynb"))]


def environment(root: Path, pins: list[str], project: dict) -> Environment:
    """The course's environment.yml, or one generated from the pins when there is none."""
    path = root / "environment.yml"
    if path.exists():
        text = path.read_text()
        name = re.search(r"(?m)^name:\s*(\S+)", text)
        python = re.search(r"(?m)^\s*-\s*python\s*=+\s*([\d.]+)", text)
        return Environment(
            text,
            name.group(1) if name else "aekit",
            python.group(1) if python else "3.11",
            generated=False,
            installs_aekit=bool(re.search(r"(?m)^\s*-\s*-e\s+\.\s*$", text)),
        )
    python = re.sub(r"[^\d.]", "", project.get("requires-python", ">=3.11")) or "3.11"
    lines = [
        "# Generated by `aekit bundle` from pyproject.toml: the same pins.",
        "name: aekit",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={python}",
        "  - pip",
        "  - pip:",
    ]
    lines += [f"      - {pin}" for pin in pins] + ["      - -e ."]
    return Environment("\n".join(lines) + "\n", "aekit", python, True, True)


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
        'aekit = "aekit.cli:main"\n\n'
        "[tool.setuptools.packages.find]\n"
        'include = ["aekit*"]\n'
    )


def assemble(target: Path, root: Path = COURSE_ROOT) -> list[str]:
    """Write the bundle's files into ``target`` (an empty folder); return the notebooks' paths."""
    folders = release_folders(root)
    if not folders:
        raise BundleError("release/ holds no notebook: run `make release` first")
    project, pins = read_project(root), pinned_dependencies(root)
    env = environment(root, pins, project)
    for path in package_files(root / "aekit"):
        _copy(path, target / "aekit" / path.relative_to(root / "aekit"))
    notebooks = []
    for folder in folders:
        for path in package_files(folder):
            _copy(path, target / folder.name / path.relative_to(folder))
        notebooks += [f"{folder.name}/{path.name}" for path in sorted(folder.glob("*.ipynb"))]
    for path in [root / "data" / "README.md", *sorted((root / "data").glob("*.json"))]:
        if path.exists():
            _copy(path, target / "data" / path.name)
    (target / "environment.yml").write_text(env.text)
    why = "pip install -r requirements.txt installs what the notebooks need."
    (target / "requirements.txt").write_text(requirements_text(pins, why))
    (target / "pyproject.toml").write_text(student_pyproject(project, pins))
    (target / "README.md").write_text(student_readme(notebooks, env, pins))
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


def publish(staged: Path, out: Path) -> None:
    """Copy the staged bundle to ``out``: a folder, or a zip holding one folder named after it."""
    check_out(out)
    if out.suffix == ".zip":
        members = {
            f"{out.stem}/{path.relative_to(staged).as_posix()}": (path.read_bytes(), 0o644)
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
        notebooks = assemble(staged, root)
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
    print(f"student bundle written to {out}: {', '.join(notebooks)}, aekit, environment.yml")
    print("scanned: no solution, hidden test or grader code")
    return 0


# --- the student README -------------------------------------------------------------------------


def student_readme(notebooks: list[str], env: Environment, pins: list[str]) -> str:
    """A short README: set-up (conda or venv), data, public checks, fast mode, submitting."""
    torch_pins = " ".join(pin for pin in pins if re.match(r"(torch|torchvision)==", pin))
    listed = "\n".join(f"- `{notebook}`" for notebook in notebooks)
    first = notebooks[0]
    return _README.format(
        notebooks=listed,
        first=first,
        exercise_example="kl_divergence",
        env_name=env.name,
        conda_aekit="" if env.installs_aekit else "    pip install --no-deps -e .\n",
        python=env.python,
        torch_pins=torch_pins or "torch torchvision",
    )


_README = """# Autoencoders and variational autoencoders: the course notebooks

What you received:

{notebooks}
- `aekit/`: the course library (data, training loop, plots, the latent explorer and the public
  checks). It holds no solution: those are yours to write.
- `environment.yml` (conda), `requirements.txt` and `pyproject.toml` (pip): the pinned packages.
- `data/README.md`: where the data sets live and how to get them.

## Set up

Python {python} and the pinned packages; a GPU helps but is not needed (every notebook runs on a
CPU in minutes).

**On a cloud notebook server with conda** (JupyterHub, a lab machine), from this folder:

    conda env create -f environment.yml
    conda activate {env_name}
{conda_aekit}    python -m ipykernel install --user --name {env_name}

then open the notebook and pick the `{env_name}` kernel.

**On a laptop with venv and pip**, from this folder:

    python{python} -m venv .venv
    source .venv/bin/activate          # Windows: .venv\\Scripts\\activate
    pip install -r requirements.txt
    pip install --no-deps -e .
    jupyter lab {first}

On a laptop without an NVIDIA GPU, install the smaller CPU-only PyTorch first:
`pip install {torch_pins} --index-url https://download.pytorch.org/whl/cpu`, then the two
commands above.

`pip install -e .` makes `import aekit` work from any folder and adds the `aekit` command.

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
`%env AEKIT_FAST=1` in the first cell and restart the kernel. Turn it off (`AEKIT_FAST=0`) for
the real run, whose figures the questions ask about.

## Submitting

Hand in your notebook file (`.ipynb`), one notebook per assignment, as your instructor tells
you (for example by uploading it to Gradescope). Its file name does not matter. Before you do:

- keep the exercises' names and signatures: the grader finds them by name;
- restart the kernel and run all cells once, so that the notebook holds what you think it does;
- the grader loads your definitions only (imports, functions, classes, settings): training
  loops and plots are not run while grading, and each exercise is graded on its own, so a
  mistake in one exercise costs no points in another.
"""
