"""``autograder.notebooks.execute``: a real kernel runs small notebooks; every way a run can go
wrong ends in a NotebookFailed that names the cell, never in a hang or an nbclient traceback."""

import nbformat
import pytest

from autograder.notebooks import NotebookFailed, execute


def notebook(tmp_path, *sources: str):
    path = tmp_path / "lesson.ipynb"
    cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def test_a_notebook_runs_in_its_own_folder(tmp_path):
    (tmp_path / "data.txt").write_text("42")
    path = notebook(tmp_path, "value = int(open('data.txt').read())", "assert value == 42")
    assert execute(path, timeout=60) > 0


def test_an_error_names_the_cell_and_the_exception(tmp_path):
    path = notebook(tmp_path, "x = 1", "x / 0", "print('never')")
    with pytest.raises(NotebookFailed, match=r"lesson.ipynb, cell 2: ZeroDivisionError"):
        execute(path, timeout=60)


def test_a_cell_past_the_timeout_fails_the_run_and_names_the_cell(tmp_path):
    path = notebook(tmp_path, "x = 1", "import time\ntime.sleep(60)")
    with pytest.raises(NotebookFailed, match=r"cell 2: still running after 3 s"):
        execute(path, timeout=3)


def test_a_dead_kernel_fails_the_run_and_names_the_cell(tmp_path):
    path = notebook(tmp_path, "x = 1", "x += 1", "import os\nos._exit(1)")
    with pytest.raises(NotebookFailed, match=r"cell 3: the kernel died"):
        execute(path, timeout=60)
