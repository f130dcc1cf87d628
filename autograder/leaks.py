"""The leak scanner: no solution, hidden test or grader code where students can see it.

What counts as a secret comes from the course itself:

- every line of a ``### BEGIN SOLUTION`` or ``### BEGIN HIDDEN TESTS`` region of a source
  notebook (:func:`secret_lines`);
- every distinctive line of the hidden checks (``autograder/hidden/*.py``): the lines that no
  public file (the ``aekit`` library, the release notebooks) also holds;
- the markers of those regions and of the grader (``hidden_checks``, ``from autograder``);
- the grader and the solutions as files: a copy of any file of ``autograder/``, ``source/`` or
  ``solutions/``, a folder with one of those names, compiled Python, a check class marked
  ``hidden = True``.

A scanned file leaks when one of its lines equals a secret line (after stripping) or when it
contains a marker. In Python files (the public library) one short shared line is taken for an
idiom the checks share with the solutions; two shared lines, or one long one, are a leak. Notebooks and JSON files are read as the text of their strings, HTML files
as their text without tags, and a ``.zip`` as the files it holds.

:func:`scan_generated` guards release/ and solutions/ (``aekit release --check``);
:func:`scan_student_facing` guards what students receive: the bundle, release/ and feedback
(``feedback.html``, ``results.json``). From a shell, ``python -m autograder.leaks [PATH ...]``
scans the given paths (default: release/ and nbgrader's feedback/ folder) that way.
"""

import ast
import base64
import binascii
import hashlib
import html
import json
import re
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from autograder import loader

COURSE_ROOT = Path(__file__).resolve().parents[1]  # as in autograder.assignments, without torch

SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION")
HIDDEN_MARKERS = (
    "BEGIN HIDDEN TESTS",
    "END HIDDEN TESTS",
    "hidden_checks",
    "from autograder",
    "import autograder",
)
# A dotted name in the grader's package (``autograder.engine``), not the word ending a sentence.
GRADER_PATH = re.compile(r"\bautograder\.[A-Za-z_]")
MARKERS = SOLUTION_MARKERS + HIDDEN_MARKERS + (GRADER_PATH,)
# The aekit library names the grader's modules to import them lazily (``aekit grade``): in
# Python files only the markers that mean hidden code count.
CODE_MARKERS = SOLUTION_MARKERS + HIDDEN_MARKERS

SECRET_FOLDERS = ("autograder", "source", "solutions")  # course folders never shipped
SECRET_FILES = ("gradebook.db",)
MIN_COPY_BYTES = 64  # smaller files (an empty __init__.py) are not telling copies
ZIP_MEMBER_BYTES = 32 << 20  # larger members of a scanned .zip are skipped, not read
# In Python files a lone shared line shorter than this is an idiom (``widths = (c_in, *cs)``),
# not a leak: the public checks encode the exercises' contracts. Two shared lines, or one long
# one (a formula), are.
IDIOM_CHARS = 40
# Secret lines at least this long are searched inside decoded text (base64, hex, reversed).
ENCODED_CHARS = 20

# Lines too generic to count as a leak when they appear alone.
_TRIVIAL = re.compile(
    r"^(\)|\]|\}|\),|return|else:|pass|nn\.ReLU\(\),|nn\.Sigmoid\(\),|super\(\)\.__init__\(\))$"
)


# --- what is secret -----------------------------------------------------------------------------


def secret_lines(notebook: Path) -> dict[str, set[str]]:
    """Lines of the solution and hidden-test regions of a source notebook."""
    return _regions(notebook)


def public_lines(notebook: Path) -> set[str]:
    """Lines of a source notebook outside its solution and hidden-test regions."""
    return _regions(notebook)["public"]


def _regions(notebook: Path) -> dict[str, set[str]]:
    found = {"solution": set(), "hidden": set(), "public": set()}
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
            elif region is None:
                found["public"].add(stripped)
            elif _distinctive(stripped):
                found[region].add(stripped)
    return found


def _distinctive(stripped: str) -> bool:
    """Long enough, not a comment, and more than the opening of a call (``nn.Sequential(``)."""
    return (
        len(stripped) >= 8
        and not stripped.startswith("#")
        and not stripped.endswith(("(", "[", "{"))
        and not _TRIVIAL.match(stripped)
    )


def source_notebooks(root: Path = COURSE_ROOT) -> list[Path]:
    """Every notebook of ``source/<assignment>/``: each may hold solutions and hidden tests."""
    return sorted((root / "source").glob("*/*.ipynb"))


def all_secrets(kinds: Iterable[str] = ("solution", "hidden")) -> set[str]:
    """Solution and/or hidden-test lines of every source notebook.

    A line that some source notebook also shows outside its secret regions (``with
    torch.no_grad():``) is public, whatever region it appears in elsewhere.
    """
    kinds = list(kinds)
    secrets: set[str] = set()
    public: set[str] = set()
    for notebook in source_notebooks():
        regions = _regions(notebook)
        public |= regions["public"]
        for kind in kinds:
            secrets |= regions[kind]
    return secrets - public


def hidden_check_lines(root: Path = COURSE_ROOT) -> set[str]:
    """Distinctive lines of the hidden checks that no public file of the course also holds."""
    hidden = set()
    for path in sorted((root / "autograder" / "hidden").rglob("*.py")):
        hidden |= {line.strip() for line in path.read_text().splitlines()}
    hidden = {line for line in hidden if _distinctive(line)}
    public = set()
    for path in (root / "aekit").rglob("*.py"):
        public |= {line.strip() for line in path.read_text().splitlines()}
    for path in (root / "release").glob("*/*.ipynb"):
        public |= {line.strip() for text in _notebook_texts(path.read_bytes()) for line in text}
    return hidden - public


def student_secrets() -> set[str]:
    """Every line students must never see: solutions, hidden tests, hidden checks."""
    return all_secrets() | hidden_check_lines()


def grader_digests(root: Path = COURSE_ROOT) -> dict[str, str]:
    """SHA-256 of every file of the grader, the source notebooks and the solutions -> its path."""
    digests = {}
    for folder in SECRET_FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                data = path.read_bytes()
                if len(data) >= MIN_COPY_BYTES:
                    digests[hashlib.sha256(data).hexdigest()] = str(path.relative_to(root))
    return digests


# --- scanning text ------------------------------------------------------------------------------


def scan_text(text: str, secrets: set[str], markers: Iterable = MARKERS) -> list[str]:
    """What in ``text`` leaks: a marker it contains, or a line equal to a secret line.

    A marker is a string (found as a substring) or a compiled regular expression.
    """
    problems = [f"contains {_marker_name(marker)!r}" for marker in markers if _has(text, marker)]
    return problems + [
        f"contains the secret line {line!r}" for line in secret_matches(text, secrets)
    ]


def secret_matches(text: str, secrets: set[str]) -> list[str]:
    """The lines of ``text`` (raw, JSON-escaped or quoted) that equal a secret line."""
    found = []
    for line in text.replace("\\n", "\n").splitlines():
        stripped = line.strip().strip('",').replace('\\"', '"').strip()
        if stripped in secrets:
            found.append(stripped)
    return found


def _has(text: str, marker) -> bool:
    return bool(marker.search(text)) if isinstance(marker, re.Pattern) else marker in text


def _marker_name(marker) -> str:
    return marker.pattern if isinstance(marker, re.Pattern) else marker


def scan_paths(paths: Iterable[Path], secrets: set[str], markers: Iterable = MARKERS) -> list[str]:
    """Scan every text file under ``paths`` as raw text; one message per leaking file."""
    markers = tuple(markers)
    problems = []
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            problems += _one_message(str(path), scan_text(text, secrets, markers))
    return problems


def _one_message(where: str, found: list[str]) -> list[str]:
    if not found:
        return []
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return [f"{where}: {found[0]}{more}"]


def scan_generated(names: Iterable[str]) -> list[str]:
    """release/ may hold neither solutions nor hidden tests; solutions/ no hidden tests."""
    names = list(names)
    problems = scan_paths([COURSE_ROOT / "release" / name for name in names], all_secrets())
    problems += scan_paths(
        [COURSE_ROOT / "solutions" / name for name in names],
        all_secrets(["hidden"]),
        HIDDEN_MARKERS + (GRADER_PATH,),
    )
    return problems


# --- scanning what students receive -------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A file to scan: on disk, or a member of a .zip (``where`` names it for messages)."""

    where: str
    parts: tuple[str, ...]  # path components below the scanned root
    data: bytes | None  # None: too large to read


def scan_student_facing(paths: Iterable[Path]) -> list[str]:
    """Everything that leaks in files students see: a bundle, release/, feedback, a .zip.

    Text is read plain and decoded (reversed, base64, hex), so an encoded solution is found.
    In nbgrader's feedback (``feedback/<student>/<assignment>/<notebook>.html``), the lines of
    that student's own submitted notebook are theirs, not a leak: a correct student's usual
    KL line is not flagged. Returns one message per problem, naming the file and what leaks.
    """
    secrets, digests = student_secrets(), grader_digests()
    problems = []
    for root in paths:
        for entry in _entries(Path(root)):
            own = _own_lines(Path(root), entry)
            problems += _scan_entry(entry, secrets - own if own else secrets, digests)
    return list(dict.fromkeys(problems))


def _own_lines(root: Path, entry: Entry) -> set[str]:
    """The lines of the submission a feedback page was made from (nbgrader's course layout:
    ``submitted/`` or ``autograded/`` beside ``feedback/``), or none."""
    path = Path(entry.where)
    if "!" in entry.where or path.suffix != ".html" or len(path.parts) < 5:
        return set()
    if path.parents[2].name != "feedback":
        return set()
    course, student, assignment = path.parents[3], path.parents[1].name, path.parent.name
    own = set()
    for folder in ("submitted", "autograded"):
        notebook = course / folder / student / assignment / f"{path.stem}.ipynb"
        if notebook.is_file():
            own |= {
                line.strip() for text in _notebook_texts(notebook.read_bytes()) for line in text
            }
    return own


def decoded(text: str, limit: int = 400) -> list[str]:
    """``text`` as a leak hunter also reads it: reversed, and each base64 or hex run in it
    (or in its reverse) decoded, at every alignment."""
    found = [text[::-1]]
    for candidate in (text, text[::-1]):
        for run in re.findall(r"[A-Za-z0-9+/=_-]{24,}", candidate)[:limit]:
            for offset in range(4):
                chunk = run[offset:].replace("-", "+").replace("_", "/")
                try:
                    found.append(
                        base64.b64decode(chunk + "=" * (-len(chunk) % 4)).decode("latin-1")
                    )
                except (binascii.Error, ValueError):
                    continue
        for run in re.findall(r"(?:[0-9a-fA-F]{2}){12,}", candidate)[:limit]:
            found.append(bytes.fromhex(run).decode("latin-1"))
    return [reading for reading in found if reading]


def _entries(root: Path) -> Iterator[Entry]:
    """The files under ``root`` (a file, a folder or a .zip), .zip files opened."""
    if not root.exists():
        return
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for path in files:
        parts = path.relative_to(root).parts if path != root else (path.name,)
        if path.suffix == ".zip":
            yield from _zip_entries(path, parts)
            continue
        try:
            yield Entry(str(path), parts, path.read_bytes())
        except OSError as error:
            yield Entry(f"{path} (unreadable: {error.strerror})", parts, b"")


def _zip_entries(path: Path, parts: tuple[str, ...]) -> Iterator[Entry]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        yield Entry(str(path), parts, None)
        return
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            data = archive.read(info) if info.file_size <= ZIP_MEMBER_BYTES else None
            yield Entry(f"{path}!{info.filename}", parts + tuple(info.filename.split("/")), data)


def _scan_entry(entry: Entry, secrets: set[str], digests: dict[str, str]) -> list[str]:
    problems = [f"{entry.where}: {problem}" for problem in _structure_problems(entry.parts)]
    if entry.data is None:
        return problems
    copied = digests.get(hashlib.sha256(entry.data).hexdigest())
    if copied:
        problems.append(f"{entry.where}: is a copy of the course's {copied}")
    texts = _texts(entry)
    if texts is None:
        return problems
    python = entry.parts[-1].endswith(".py")
    # A solution encoded into an error message is still a solution: decoded text is searched
    # for the secret lines anywhere in it (long ones: short ones would match noise).
    readings = [] if python else [reading for text in texts for reading in decoded(text)]
    markers = CODE_MARKERS if python else MARKERS
    found = [
        f"contains {_marker_name(m)!r}"
        for m in markers
        if any(_has(t, m) for t in texts + readings)
    ]
    lines = [line for text in texts for line in secret_matches(text, secrets)]
    long_secrets = [line for line in secrets if len(line) >= ENCODED_CHARS]
    lines += [line for reading in readings for line in long_secrets if line in reading]
    lines = list(dict.fromkeys(lines))
    if python and len(lines) == 1 and len(lines[0]) < IDIOM_CHARS:
        lines = []  # library code shares short idioms with the solutions; a paste shares more
    found += [f"contains the secret line {line!r}" for line in lines]
    if python:
        found += _hidden_classes("\n".join(texts))
    return problems + _one_message(entry.where, found)


def _structure_problems(parts: tuple[str, ...]) -> list[str]:
    """Folder and file names that mean grader code or solutions came along."""
    problems = []
    for folder in parts[:-1]:
        if folder in SECRET_FOLDERS:
            problems.append(f"lies in a folder named {folder}/, which students must never receive")
            break
    name = parts[-1]
    if name in SECRET_FILES:
        problems.append(f"{name} is the instructor's gradebook")
    if name.endswith(".pyc"):
        problems.append("is compiled Python (it can hold the grader's code); ship sources only")
    return problems


def _texts(entry: Entry) -> list[str] | None:
    """The text to scan, as the reader sees it; None for binary files."""
    try:
        text = entry.data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    name = entry.parts[-1].lower()
    if name.endswith((".ipynb", ".json")):
        strings = _json_strings(text)
        return [text] if strings is None else ["\n".join(strings)]
    if name.endswith((".html", ".htm")):
        return [html.unescape(re.sub(r"<[^>]*>", "\n", text))]
    return [text]


def _json_strings(text: str) -> list[str] | None:
    """Every string (keys and values) of a JSON document; None when it is not JSON."""
    try:
        document = json.loads(text)
    except ValueError:
        return None
    strings, stack = [], [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            strings.append(item)
        elif isinstance(item, dict):
            strings += [key for key in item if isinstance(key, str)]
            stack += list(item.values())
        elif isinstance(item, list):
            stack += item
    return strings


def _notebook_texts(data: bytes) -> list[list[str]]:
    strings = _json_strings(data.decode("utf-8", errors="replace")) or []
    return [string.splitlines() for string in strings]


def _hidden_classes(source: str) -> list[str]:
    """Check classes marked ``hidden = True``, and classes derived from them in the same file."""
    try:
        tree = loader.parse(source)
    except (SyntaxError, ValueError):
        return []
    hidden: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = {base.id for base in node.bases if isinstance(base, ast.Name)}
            if _sets_hidden(node) or bases & hidden:
                hidden.add(node.name)
    return [f"defines the hidden check class {name}" for name in sorted(hidden)]


def _sets_hidden(node: ast.ClassDef) -> bool:
    for statement in node.body:
        targets = (
            statement.targets
            if isinstance(statement, ast.Assign)
            else [statement.target]
            if isinstance(statement, ast.AnnAssign)
            else []
        )
        value = getattr(statement, "value", None)
        named = any(isinstance(target, ast.Name) and target.id == "hidden" for target in targets)
        if named and isinstance(value, ast.Constant) and value.value is True:
            return True
    return False


# --- command line -------------------------------------------------------------------------------


def default_paths(root: Path = COURSE_ROOT) -> list[Path]:
    """release/, and nbgrader's feedback/ folder when there is one."""
    return [path for path in (root / "release", root / "feedback") if path.exists()]


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.leaks [PATH ...]``: exit 1 and list the leaks, 0 when clean."""
    arguments = sys.argv[1:] if argv is None else argv
    if any(argument.startswith("-") for argument in arguments):
        print("usage: python -m autograder.leaks [PATH ...]  (default: release/ feedback/)")
        return 0 if {"-h", "--help"} & set(arguments) else 2
    paths = [Path(argument) for argument in arguments] or default_paths()
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        print(f"leaks: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    problems = scan_student_facing(paths)
    for problem in problems:
        print(f"leak: {problem}", file=sys.stderr)
    names = ", ".join(str(path) for path in paths)
    if problems:
        print(f"{len(problems)} leak(s) in {names}: remove them before students see them.")
        return 1
    print(f"no solution, hidden test or grader code in {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
