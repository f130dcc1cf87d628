"""The leak scanner: no solution, hidden test or grader code where students can see it.

What counts as a secret comes from the source notebooks themselves: every line of a
``### BEGIN SOLUTION`` region, every line of a ``### BEGIN HIDDEN TESTS`` region, the markers,
and the names of the autograder package. A scanned file leaks when one of its lines equals a
secret line (after stripping) or when it contains a marker.
"""

import json
import re
from collections.abc import Iterable
from pathlib import Path

from autograder.assignments import ASSIGNMENTS, COURSE_ROOT

MARKERS = (
    "BEGIN SOLUTION",
    "END SOLUTION",
    "BEGIN HIDDEN TESTS",
    "END HIDDEN TESTS",
    "hidden_checks",
    "from autograder",
    "import autograder",
    "autograder.",
)
# Lines too generic to count as a leak when they appear alone.
_TRIVIAL = re.compile(r"^(\)|\]|\}|\),|return|else:|pass|nn\.ReLU\(\),|nn\.Sigmoid\(\),|super\(\)\.__init__\(\))$")


def secret_lines(notebook: Path) -> dict[str, set[str]]:
    """Lines of the solution and hidden-test regions of a source notebook."""
    found = {"solution": set(), "hidden": set()}
    for cell in json.loads(notebook.read_text()).get("cells", []):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        region = None
        for line in source.splitlines():
            stripped = line.strip()
            if "BEGIN SOLUTION" in line:
                region = "solution"
            elif "BEGIN HIDDEN TESTS" in line:
                region = "hidden"
            elif "END SOLUTION" in line or "END HIDDEN TESTS" in line:
                region = None
            elif region and len(stripped) >= 8 and not stripped.startswith("#") and not _TRIVIAL.match(stripped):
                found[region].add(stripped)
    return found


def all_secrets(kinds: Iterable[str] = ("solution", "hidden")) -> set[str]:
    secrets: set[str] = set()
    for name in ASSIGNMENTS:
        notebook = COURSE_ROOT / "source" / name / f"{name}.ipynb"
        if notebook.exists():
            lines = secret_lines(notebook)
            for kind in kinds:
                secrets |= lines[kind]
    return secrets


def scan_text(text: str, secrets: set[str], markers: Iterable[str] = MARKERS) -> list[str]:
    """What in ``text`` leaks: a marker it contains, or a line equal to a secret line."""
    problems = [f"contains {marker!r}" for marker in markers if marker in text]
    for line in text.replace("\\n", "\n").splitlines():
        stripped = line.strip().strip('",').replace('\\"', '"').strip()
        if stripped in secrets:
            problems.append(f"contains the secret line {stripped!r}")
    return problems


def scan_paths(paths: Iterable[Path], secrets: set[str], markers: Iterable[str] = MARKERS) -> list[str]:
    """Scan every text file under ``paths``; one message per leaking file."""
    problems = []
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            found = scan_text(text, secrets, markers)
            if found:
                problems.append(f"{path}: {found[0]}" + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""))
    return problems


def scan_generated(names: Iterable[str]) -> list[str]:
    """release/ may hold neither solutions nor hidden tests; solutions/ no hidden tests."""
    names = list(names)
    problems = scan_paths([COURSE_ROOT / "release" / name for name in names], all_secrets())
    hidden_only = [marker for marker in MARKERS if "SOLUTION" not in marker]
    problems += scan_paths([COURSE_ROOT / "solutions" / name for name in names], all_secrets(["hidden"]), hidden_only)
    return problems
