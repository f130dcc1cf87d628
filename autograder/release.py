"""``aekit release``: generate release/ and solutions/ from source/ with nbgrader.

The generation runs in a scratch copy of the course (its own gradebook), so it never touches
an instructor's gradebook.db. ``--check`` compares a fresh generation with the committed
folders instead of writing them, and scans them for solution or hidden-test text.
"""

import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.assignments import ASSIGNMENTS, COURSE_ROOT

GENERATED = ("release", "solutions")


def generate(assignments: list[str], into: Path) -> list[str]:
    """Generate ``into/release/<a>`` and ``into/solutions/<a>``; return error messages."""
    with tempfile.TemporaryDirectory(prefix="aekit-release-") as scratch:
        course = Path(scratch)
        shutil.copy(COURSE_ROOT / "nbgrader_config.py", course)
        errors = []
        for name in assignments:
            shutil.copytree(COURSE_ROOT / "source" / name, course / "source" / name)
            for verb in ("generate_assignment", "generate_solution"):
                errors += _nbgrader(course, verb, name)
        for folder in GENERATED:
            for name in assignments:
                if (course / folder / name).exists():
                    target = into / folder / name
                    shutil.rmtree(target, ignore_errors=True)
                    shutil.copytree(course / folder / name, target)
        return errors


def _nbgrader(course: Path, verb: str, name: str) -> list[str]:
    """Run one nbgrader verb in the scratch course; its error log when it fails."""
    command = [sys.executable, "-m", "nbgrader", verb, name, "--force", "--log-level=ERROR"]
    result = subprocess.run(
        command, cwd=course, capture_output=True, text=True, timeout=600, env=tool_environment()
    )
    if result.returncode != 0:
        return [
            f"{name}: nbgrader {verb} failed: {(result.stderr or result.stdout).strip()[-1000:]}"
        ]
    return []


def tool_environment() -> dict[str, str]:
    """This environment with the interpreter's bin/ first on PATH: nbgrader runs ``alembic``."""
    environment = dict(os.environ)
    environment["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), environment.get("PATH", "")]
    )
    return environment


def differences(left: Path, right: Path) -> list[str]:
    """Files that differ between two trees, or exist in one only."""
    if not left.exists() or not right.exists():
        return [f"{right if left.exists() else left} is missing"]
    comparison = filecmp.dircmp(left, right, ignore=["__pycache__", ".ipynb_checkpoints"])
    found = [f"{left / name} only" for name in comparison.left_only]
    found += [f"{right / name} only" for name in comparison.right_only]
    for name in comparison.common_files:
        if not filecmp.cmp(left / name, right / name, shallow=False):
            found.append(f"{right / name} differs from a fresh generation")
    for name in comparison.common_dirs:
        found += differences(left / name, right / name)
    return found


def run(args) -> int:
    names = args.assignments or [
        name for name in ASSIGNMENTS if (COURSE_ROOT / "source" / name).exists()
    ]
    if not args.check:
        errors = generate(names, COURSE_ROOT)
        for error in errors:
            print(f"aekit release: {error}", file=sys.stderr)
        if not errors:
            print(f"release/ and solutions/ regenerated for {', '.join(names)}")
        return 1 if errors else 0
    with tempfile.TemporaryDirectory(prefix="aekit-check-") as scratch:
        errors = generate(names, Path(scratch))
        for folder in GENERATED:
            for name in names:
                errors += differences(Path(scratch) / folder / name, COURSE_ROOT / folder / name)
    from autograder.leaks import scan_generated

    errors += scan_generated(names)
    for error in errors:
        print(f"aekit release --check: {error}", file=sys.stderr)
    if errors:
        print("run `make release` to regenerate, then commit", file=sys.stderr)
        return 1
    print(f"release/ and solutions/ equal a fresh generation, with no leaks ({', '.join(names)})")
    return 0
