"""Run All on a half-finished notebook, in a real kernel: every check cell gives its feedback,
cells under a ``# needs:`` comment wait for their exercises, and nbgrader's Validate still fails."""

import nbformat
import pytest
import torch
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from aekit.notebook import needs_comment, passes, skipped
from autograder.assignments import ASSIGNMENTS, COURSE_ROOT

SETUP = "%load_ext aekit.notebook\nimport torch\nfrom aekit.checks import check"
STUB = "def interpolate(z_start, z_end, steps):\n    raise NotImplementedError()"
DONE = (
    "def interpolate(z_start, z_end, steps):\n"
    "    w = torch.linspace(0, 1, steps, dtype=z_start.dtype, device=z_start.device)[:, None]\n"
    "    return z_start + w * (z_end - z_start)"
)
CHECK = 'check("interpolate")'
USE = "# needs: interpolate\npath = interpolate(torch.zeros(2), torch.ones(2), 5)\npath.shape"
AFTER = "print('the notebook went on')"


def run(*cells: str) -> list[list[dict]]:
    """Execute ``cells`` as Run All does (stopping at an error); each cell's outputs."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    return run_notebook(notebook)


def run_notebook(notebook, folder: str = ".") -> list[list[dict]]:
    client = NotebookClient(
        notebook,
        timeout=300,
        iopub_timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": folder}},
    )
    client.execute()
    return [cell.get("outputs", []) for cell in notebook.cells]


def text(outputs: list[dict]) -> str:
    return "".join(
        output.get("text", "") + output.get("data", {}).get("text/plain", "") for output in outputs
    )


def test_run_all_shows_every_check_and_skips_what_needs_an_unfinished_exercise():
    outputs = run(SETUP, STUB, CHECK, USE, AFTER)
    assert "interpolate: 0 of" in text(outputs[2]) and "✗" in text(outputs[2])
    assert "Skipped: this cell needs `interpolate`, which does not pass" in text(outputs[3])
    assert "the notebook went on" in text(outputs[4])


def test_a_finished_exercise_runs_the_cell_and_shows_its_value_once():
    outputs = run(SETUP, DONE, CHECK, USE, AFTER)
    assert "Result(" not in text(outputs[2])  # the checklist only, no list of results
    assert text(outputs[2]).count("public checks passed") == 1
    assert text(outputs[3]) == "torch.Size([5, 2])"


def test_a_trailing_semicolon_silences_the_value_as_in_any_cell():
    quiet = USE + ";"
    outputs = run(SETUP, DONE, quiet, "print(path.shape)")
    assert outputs[2] == [] and "torch.Size([5, 2])" in text(outputs[3])


def test_an_error_under_needs_still_fails_the_run_with_its_line():
    broken = USE + "\n1 / 0"
    with pytest.raises(CellExecutionError, match="ZeroDivisionError") as error:
        run(SETUP, DONE, broken, AFTER)
    assert "1 / 0" in str(error.value)


def test_nbgrader_validate_still_fails_an_unfinished_exercise(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    with pytest.raises(CellExecutionError, match="ChecksFailed"):
        run(SETUP, STUB, CHECK, AFTER)
    with pytest.raises(CellExecutionError, match="NotImplementedError"):
        run(SETUP, STUB, USE, AFTER)  # under nbgrader the cell runs, as without the magic


def test_the_quiet_checks_leave_torchs_random_state_alone():
    namespace = {"interpolate": lambda a, b, steps: torch.stack([a, b])}
    torch.manual_seed(3)
    state = torch.get_rng_state()
    assert not passes("interpolate", namespace)
    assert torch.equal(torch.get_rng_state(), state)


def test_the_note_names_every_exercise_it_waits_for():
    note = skipped(["make_encoder", "make_decoder", "autoencoder_forward"])
    assert "needs `make_encoder`, `make_decoder` and `autoencoder_forward`, which do" in note


def test_a_long_list_takes_several_comment_lines_and_keeps_the_line_numbers():
    lines = ["# needs: make_encoder, make_decoder\n", "#   needs: vae_forward\n", "x = 1\n"]
    assert needs_comment(lines) == [
        "%%needs make_encoder make_decoder vae_forward\n",
        "pass\n",
        "pass\n",
        "x = 1\n",
    ]
    assert needs_comment(["x = 1  # needs: nothing\n"]) == ["x = 1  # needs: nothing\n"]


@pytest.mark.slow
@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_run_all_on_the_untouched_release_reaches_every_check_cell(assignment, monkeypatch):
    """A student's Run All on the release, every exercise a stub, in fast mode: no cell stops
    the run, every check cell prints its checklist, the cells that use exercises wait."""
    monkeypatch.setenv("AEKIT_FAST", "1")
    path = COURSE_ROOT / "release" / assignment / f"{assignment}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    outputs = run_notebook(notebook, str(path.parent))
    for cell, shown in zip(notebook.cells, outputs, strict=True):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            assert f"{grade_id.removeprefix('check_')}: 0 of" in text(shown), grade_id
    assert sum("Skipped: this cell needs" in text(shown) for shown in outputs) >= 5
