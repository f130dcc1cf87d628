"""``aekit run-notebooks``: execute every source notebook top to bottom, as a student would.

The notebooks run in their own folders with the course's kernel; under ``AEKIT_FAST=1``
training shrinks to seconds. The source files are never modified.
"""

import os
import sys
import time
from pathlib import Path

from autograder.assignments import ASSIGNMENTS, COURSE_ROOT


class NotebookFailed(RuntimeError):
    """A cell raised; the message names the cell and the error."""


def execute(path: Path, timeout: int = 900) -> float:
    """Run the notebook at ``path`` in its folder; return the seconds it took.

    ``timeout`` bounds each cell (nbclient's own unit): a cell that runs past it, or a kernel
    that dies, fails the run like an error does, with the cell's number in the message.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    notebook = nbformat.read(path, as_version=4)
    running = {"cell": "?"}

    def started(cell, cell_index, **_) -> None:
        running["cell"] = cell_index + 1

    client = NotebookClient(
        notebook,
        timeout=timeout,
        iopub_timeout=120,  # nbclient's 4 s is reached on a busy machine
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_start=started,
    )
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as error:
        cell = next((i for i, c in enumerate(notebook.cells, 1) if _failed(c)), "?")
        raise NotebookFailed(f"{path.name}, cell {cell}: {error.ename}: {error.evalue}") from None
    except CellTimeoutError:
        raise NotebookFailed(
            f"{path.name}, cell {running['cell']}: still running after {timeout} s"
        ) from None
    except DeadKernelError:
        raise NotebookFailed(f"{path.name}, cell {running['cell']}: the kernel died") from None
    return time.perf_counter() - start


def _failed(cell) -> bool:
    return any(output.get("output_type") == "error" for output in cell.get("outputs", []))


def run(args) -> int:
    names = args.assignments or [
        name for name in ASSIGNMENTS if (COURSE_ROOT / "source" / name).exists()
    ]
    mode = "fast mode" if os.environ.get("AEKIT_FAST") == "1" else "full settings"
    failures = 0
    for name in names:
        path = COURSE_ROOT / "source" / name / f"{name}.ipynb"
        try:
            seconds = execute(path)
        except NotebookFailed as error:
            print(f"FAILED {error}", file=sys.stderr)
            failures += 1
            continue
        print(f"{name}: ran top to bottom in {seconds:.1f} s ({mode})")
    return 1 if failures else 0
