"""The notebook loader: definitions run, everything else is skipped, failures are noted."""

import json

import pytest

from autograder.loader import (
    NotebookError,
    defined_names,
    defines,
    load,
    parse_salvaging,
    read_cells,
    strip_magics,
)


def run(*cells: str, **options):
    return load(list(enumerate(cells, start=1)), **options)


def test_definitions_run_and_calls_loops_and_with_blocks_do_not():
    loaded = run(
        "import math\nCONSTANT = 3\n\ndef f(x):\n    return x + CONSTANT\n",
        "print('side effect')\nfor i in range(10**12):\n    pass\nwith open('x') as f:\n    pass\n",
        "class Model:\n    size = 2\n",
    )
    namespace = loaded.namespace
    assert namespace["f"](1) == 4 and namespace["Model"].size == 2 and "i" not in namespace
    assert loaded.notes == []


def test_if_and_try_blocks_run_only_when_they_just_define_things():
    loaded = run(
        "try:\n    import not_a_module\nexcept ImportError:\n    FALLBACK = True\n",
        "if True:\n    A = 1\nelse:\n    A = 2\n",
        "if True:\n    print('no')\n    B = 1\n",
    )
    assert (
        loaded.namespace["FALLBACK"] and loaded.namespace["A"] == 1 and "B" not in loaded.namespace
    )


def test_magics_and_shell_lines_are_ignored():
    source = "%matplotlib inline\n!pip install foo\nX = 1\nif X:\n    %time Y = 2\n"
    assert "pip" not in strip_magics(source)
    assert run(source).namespace["X"] == 1
    assert strip_magics("%%timeit\nZ = 1\n") == ""


def test_a_syntax_error_costs_only_its_own_chunk():
    nodes, problems = parse_salvaging(
        "def good():\n    return 1\n\ndef bad(:\n    pass\n\nLATER = 2\n"
    )
    names = [getattr(node, "name", None) or node.targets[0].id for node in nodes]
    assert names == ["good", "LATER"]
    assert "syntax error" in problems[0]


@pytest.mark.parametrize("deep", ["-" * 10**5 + "1", "x" + "[0]" * 10**5, "1" + "+1" * 10**6])
def test_code_nested_past_the_parsers_limits_costs_only_its_own_chunk(deep):
    # CPython raises MemoryError or RecursionError there, not SyntaxError.
    nodes, problems = parse_salvaging(f"def good():\n    return 1\n\nDEEP = {deep}\nLATER = 2\n")
    names = [getattr(node, "name", None) or node.targets[0].id for node in nodes]
    assert names == ["good", "LATER"]
    assert problems == [
        "code nested too deeply for Python's parser; the rest of the cell was salvaged"
    ]
    assert defined_names([(1, f"x = {deep}\n")]) == set()


def test_more_code_than_any_notebook_needs_is_refused_before_anything_parses_it(tmp_path):
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "source": "x = 1\n" * 200_001}
    path = tmp_path / "pasted.ipynb"
    path.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4}))
    with pytest.raises(NotebookError, match="hold 1,200,006 characters, more than the 1,000,000"):
        read_cells(path)


def test_a_byte_order_mark_is_read_past_and_other_encodings_are_named(tmp_path):
    notebook = json.dumps({"cells": [{"cell_type": "code", "source": "X = 1"}], "nbformat": 4})
    path = tmp_path / "saved-by-an-editor.ipynb"
    path.write_text("\ufeff" + notebook, encoding="utf-8")
    assert read_cells(path) == [(1, "X = 1")]
    path.write_text(notebook, encoding="utf-16")
    with pytest.raises(NotebookError, match="is not UTF-8 text, as a notebook is"):
        read_cells(path)


def test_a_failing_import_is_noted_and_loading_goes_on():
    loaded = run("import not_a_module_at_all\n", "def f():\n    return 1\n")
    assert loaded.namespace["f"]() == 1
    assert "cell 1, line 1" in loaded.notes[0] and "ModuleNotFoundError" in loaded.notes[0]


def test_a_slow_assignment_is_cut_and_remembered():
    slow = []
    loaded = run("import time\nPAUSE = time.sleep(30)\nAFTER = 1\n", seconds=0.3, slow=slow)
    assert loaded.namespace["AFTER"] == 1 and "PAUSE" not in loaded.namespace
    assert slow == [(1, 2)] and "still running" in loaded.notes[0]


def test_statement_classification():
    import ast

    assert defines(ast.parse("x = f()").body[0])
    assert not defines(ast.parse("f()").body[0])
    assert not defines(ast.parse("while True: pass").body[0])


def test_read_cells_reports_bad_files(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text("{ nope")
    with pytest.raises(NotebookError, match="not valid JSON"):
        read_cells(path)
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(NotebookError, match="not a notebook"):
        read_cells(path)
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": ["a = 1\n", "b = 2"]}]}))
    assert read_cells(path) == [(1, "a = 1\nb = 2")]
