"""Load what a notebook defines, without running what would stall or crash the grader.

Each code cell is parsed; its top-level statements run in cell order when they define
something (imports, functions, classes, assignments, and ``if``/``try`` blocks made only of
those) and are skipped otherwise (bare calls, loops, ``with`` blocks): a leftover training
loop, ``plt.show()``, ``input()`` or ``os.abort()`` never runs. A statement that raises is
noted and loading goes on; an assignment that takes too long (``model = train(...)``) is cut
after a few seconds. Exercises are then found by name, whatever the cells' metadata says.
"""

import ast
import json
import linecache
import re
import signal
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
ASSIGNMENTS = (ast.Assign, ast.AnnAssign, ast.AugAssign)
STATEMENT_SECONDS = 3.0  # soft limit for one top-level statement
# nbgrader's max_file_size (100000 KB), over which its collect skips a file. Read whole, a
# notebook costs the grader about four times its size (2.4 GB for one of 600 MB of outputs).
MAX_NOTEBOOK_BYTES = 100_000 * 1024
# The code a notebook may hold, about 50 times the solutions' (11,345 and 21,828 characters).
# The trusted grader parses it too: a megabyte of short statements takes Python's parser 4 s
# and 650 MB, so 100 MB of them would take the grader down with it.
MAX_CODE_CHARS = 1_000_000


class NotebookError(Exception):
    """The file is not a readable notebook; the message says why."""


class StatementTimeout(BaseException):
    """Raised inside a statement that ran past its soft limit (a BaseException, so that the
    student's ``except Exception`` does not swallow it)."""


@dataclass(frozen=True)
class Statement:
    """One top-level statement of a code cell."""

    cell: int  # 1-based index among the notebook's cells
    line: int
    node: ast.stmt
    runs: bool

    @property
    def filename(self) -> str:
        return f"<cell {self.cell}>"

    @property
    def key(self) -> tuple[int, int]:
        return self.cell, self.line


@dataclass
class Loaded:
    """A namespace and the notes on what did not load."""

    namespace: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def read_document(path: Path | str) -> dict:
    """The notebook's JSON; :class:`NotebookError` when it cannot be read, is no regular file
    or is over :data:`MAX_NOTEBOOK_BYTES` (its outputs, almost always)."""
    path = Path(path)
    _refuse_to_read(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # past a BOM, if an editor added one
    except OSError as error:
        raise NotebookError(f"cannot read {path.name}: {error}") from None
    except UnicodeDecodeError:
        raise NotebookError(
            f"{path.name} is not UTF-8 text, as a notebook is: save it from Jupyter again"
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotebookError(
            f"{path.name} is not valid JSON ({error.msg} at line {error.lineno})"
        ) from None
    except RecursionError:
        raise NotebookError(f"{path.name} is JSON nested too deeply to be a notebook") from None
    if not isinstance(document, dict):
        raise NotebookError(f"{path.name} is JSON but not a notebook (no cells)")
    return document


def _refuse_to_read(path: Path) -> None:
    """:class:`NotebookError` for a file the grader must not read: not a regular file (reading
    a named pipe blocks) or too large. A file that is not there is left to the read to say."""
    try:
        found = path.stat()
    except OSError:
        return
    if not stat.S_ISREG(found.st_mode):
        raise NotebookError(f"{path.name} is not a regular file (a folder, a pipe)")
    if found.st_size > MAX_NOTEBOOK_BYTES:
        raise NotebookError(
            f"{path.name} is {found.st_size / 2**20:,.0f} MB, over nbgrader's "
            f"{MAX_NOTEBOOK_BYTES // 1024:,} KB: clear its outputs (Kernel > Restart & Clear "
            "Output) and save it again"
        )


def read_cells(path: Path | str) -> list[tuple[int, str]]:
    """(cell number, source) of every code cell; :class:`NotebookError` if unreadable."""
    return cells_of(read_document(path))


def cells_of(document: Any) -> list[tuple[int, str]]:
    """Code cells of a notebook document (nbformat 4, or 3 with worksheets)."""
    if not isinstance(document, dict):
        raise NotebookError("the file is JSON but not a notebook (no cells)")
    cells = document.get("cells")
    if cells is None and isinstance(document.get("worksheets"), list) and document["worksheets"]:
        cells = document["worksheets"][0].get("cells")
    if not isinstance(cells, list):
        raise NotebookError("the file is JSON but not a notebook (no cells)")
    found = []
    for number, cell in enumerate(cells, start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", cell.get("input", ""))
            found.append((number, "".join(source) if isinstance(source, list) else str(source)))
    size = sum(len(source) for _, source in found)
    if size > MAX_CODE_CHARS:
        raise NotebookError(
            f"its code cells hold {size:,} characters, more than the {MAX_CODE_CHARS:,} a "
            "notebook may: remove pasted data or generated code (load data from a file)"
        )
    return found


def defined_names(cells: Iterable[tuple[int, str]]) -> set[str]:
    """Names of the functions and classes the cells define at top level."""
    names = set()
    for _, source in cells:
        nodes, _ = parse_salvaging(strip_magics(source))
        names |= {
            node.name
            for node in nodes
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        }
    return names


def plan(cells: Iterable[tuple[int, str]]) -> tuple[list[Statement], list[str]]:
    """Parse cells into statements marked to run or skip, and notes on unparsable code."""
    statements, notes = [], []
    for number, source in cells:
        python = strip_magics(source)
        linecache.cache[f"<cell {number}>"] = (
            len(python),
            None,
            python.splitlines(True),
            f"<cell {number}>",
        )
        nodes, problems = parse_salvaging(python)
        notes += [f"cell {number}, {problem}" for problem in problems]
        statements += [Statement(number, node.lineno, node, defines(node)) for node in nodes]
    return statements, notes


def strip_magics(source: str) -> str:
    """IPython-only lines (``%magic``, ``!shell``, ``%%cell`` magics) become ``pass``."""
    if source.lstrip().startswith("%%"):
        return ""
    return re.sub(r"(?m)^([ \t]*)[%!].*$", r"\1pass", source)


# CPython 3.11 keeps the AST builder's recursion count per interpreter, not per thread: two
# threads parsing at once can fail with "SystemError: AST constructor recursion depth
# mismatch" (python/cpython#106905). The batch grades on threads, so parsing takes turns.
_AST_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse``, one thread at a time (see _AST_LOCK)."""
    with _AST_LOCK:
        return ast.parse(source, filename)


def compiled(tree: ast.AST, filename: str, mode: str = "exec"):
    """``compile`` of a tree, one thread at a time (see _AST_LOCK)."""
    with _AST_LOCK:
        return compile(tree, filename, mode)


# What CPython's parser raises past its nesting limits (x[0][0]…, - - - … 1), in place of a
# SyntaxError.
NESTED_TOO_DEEPLY = (RecursionError, MemoryError)


def parse_salvaging(source: str) -> tuple[list[ast.stmt], list[str]]:
    """Top-level statements of ``source``; on a syntax error, of each parsable chunk of it."""
    try:
        return parse(source).body, []
    except SyntaxError as error:
        problem = f"line {error.lineno}: syntax error ({error.msg})"
    except NESTED_TOO_DEEPLY:
        problem = "code nested too deeply for Python's parser"
    problem += "; the rest of the cell was salvaged"
    nodes = []
    for start, chunk in top_level_chunks(source):
        try:
            tree = parse(chunk)
        except (SyntaxError, *NESTED_TOO_DEEPLY):
            continue
        ast.increment_lineno(tree, start)
        nodes += tree.body
    return nodes, [problem]


def top_level_chunks(source: str) -> list[tuple[int, str]]:
    """Split at lines that start a new top-level statement: (line offset, chunk)."""
    lines = source.splitlines(True)
    continuation = re.compile(r"^(\s|#|\)|\]|\}|else\b|elif\b|except\b|finally\b|$)")
    starts = [0]
    for index in range(1, len(lines)):
        previous = lines[index - 1].lstrip()
        if not continuation.match(lines[index]) and not previous.startswith("@"):
            starts.append(index)
    bounds = zip(starts, starts[1:] + [len(lines)], strict=True)
    return [(start, "".join(lines[start:end])) for start, end in bounds]


def defines(node: ast.stmt) -> bool:
    """True for statements that only define things; compound ones must contain only those."""
    if isinstance(node, DEFINITIONS + ASSIGNMENTS):
        return True
    if isinstance(node, ast.If):
        return all(map(defines, node.body + node.orelse))
    if isinstance(node, ast.Try):
        blocks = node.body + node.orelse + node.finalbody
        blocks += [stmt for handler in node.handlers for stmt in handler.body]
        return all(defines(stmt) or isinstance(stmt, ast.Pass) for stmt in blocks)
    return False


def execute(
    statements: list[Statement],
    namespace: dict[str, Any],
    *,
    skip: frozenset[tuple[int, int]] = frozenset(),
    seconds: float = STATEMENT_SECONDS,
    before: Callable[[Statement], None] = lambda statement: None,
    slow: list[tuple[int, int]] | None = None,
) -> list[str]:
    """Run the statements marked to run, in order, into ``namespace``; return notes.

    The keys of statements cut by the soft limit are appended to ``slow``, so a reload can
    skip them at once.
    """
    notes = []
    for statement in statements:
        if not statement.runs or statement.key in skip:
            continue
        before(statement)
        code = compiled(ast.Module(body=[statement.node], type_ignores=[]), statement.filename)
        try:
            with soft_limit(seconds):
                exec(code, namespace)  # noqa: S102 - the point of a notebook loader
        except StatementTimeout:
            if slow is not None:
                slow.append(statement.key)
            notes.append(
                f"{where(statement)}: skipped `{first_line(statement)}`: still running after {seconds:g} s"
            )
        except BaseException as error:  # noqa: BLE001 - a student's cell may raise anything
            if isinstance(error, KeyboardInterrupt):
                raise
            # An assignment usually uses data or training the grader does not run; only a
            # failing import, def or class says something about the exercises.
            if not isinstance(statement.node, ASSIGNMENTS):
                text = " ".join(str(error).split())[:200]
                notes.append(
                    f"{where(statement)}: `{first_line(statement)}` raised {type(error).__name__}: {text}"
                )
    return notes


def load(
    cells: Iterable[tuple[int, str]], namespace: dict[str, Any] | None = None, **options
) -> Loaded:
    """Plan and execute ``cells``; the one call most users need."""
    statements, notes = plan(cells)
    namespace = {"__name__": "__notebook__"} if namespace is None else namespace
    notes += execute(statements, namespace, **options)
    return Loaded(namespace, notes)


def where(statement: Statement) -> str:
    return f"cell {statement.cell}, line {statement.line}"


def first_line(statement: Statement) -> str:
    line = (
        linecache.getline(statement.filename, statement.line).strip()
        or type(statement.node).__name__
    )
    return line if len(line) <= 60 else line[:57] + "..."


class soft_limit:
    """Raise :class:`StatementTimeout` in the block after ``seconds`` (main thread only)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.active = threading.current_thread() is threading.main_thread() and seconds > 0

    def __enter__(self):
        if self.active:
            self.previous = signal.signal(signal.SIGALRM, self._expire)
            self.started = time.monotonic()
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        return False

    def _expire(self, signum, frame):
        # Re-arm: student code that swallows the first interruption gets another one.
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        raise StatementTimeout()
