"""The latent explorer in real kernels: headless runs (nbclient, which nbconvert and nbgrader
use) always get the static figure and never block; a kernel of a Jupyter server gets sliders."""

import types

import nbformat
import torch
from nbclient import NotebookClient

from aekit.explorer import explore_latent
from aekit.runtime import _interactive_front_end, widgets_available

WIDGET = "application/vnd.jupyter.widget-view+json"
SETUP = """
%matplotlib inline
import torch
from aekit.explorer import explore_latent, widgets_available

def decode(z):
    grid = torch.linspace(-3, 3, 28)
    y, x = torch.meshgrid(grid, grid, indexing="ij")
    return torch.exp(-((x - z[:, :1, None]) ** 2 + (y - z[:, 1:, None]) ** 2))

def segment(z):
    return (decode(z) * 3.9).long()

codes = torch.randn(300, 2)
labels = torch.arange(300) % 10
"""
EXPLORE = (
    "explore_latent(codes, decode, labels=labels);",
    "explore_latent(codes, segment, segmentation=True);",
)


def run(cells: list[str]) -> list[dict]:
    """Execute ``cells`` in a fresh kernel (which inherits this process's environment), each
    cell bounded; return each cell's outputs."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(notebook, timeout=120, iopub_timeout=120, kernel_name="python3").execute()
    return [cell.outputs for cell in notebook.cells]


def kinds(cell: list[dict]) -> set[str]:
    return {kind for output in cell for kind in output.get("data", {})}


def test_headless_runs_of_the_explorer_show_the_static_figure_and_never_block():
    explorations = [EXPLORE[i % 2] for i in range(12)]
    for _ in range(3):  # three kernels, twelve explorer cells each
        outputs = run([SETUP, "print(widgets_available())", *explorations])
        assert outputs[1][0]["text"].strip() == "False"
        for cell in outputs[2:]:
            assert "image/png" in kinds(cell) and WIDGET not in kinds(cell), kinds(cell)


def test_headless_training_shows_a_text_progress_bar_not_a_widget():
    """tqdm.auto would pick its widget bar in any kernel: the kit's bars follow the same rule."""
    training = (
        "import torch\n"
        "from aekit.training import TrainConfig, fit\n"
        "model = torch.nn.Linear(4, 4)\n"
        "def forward(model, batch):\n"
        "    return ((model(batch) - batch) ** 2).mean(), None\n"
        "data = torch.randn(64, 4)\n"
        "history = fit(forward, (model,), data, data, TrainConfig(epochs=2, batch_size=16))"
    )
    outputs = run([training])
    assert WIDGET not in kinds(outputs[0])
    assert "epoch 2/2" in "".join(output.get("text", "") for output in outputs[0])


def test_a_kernel_started_by_a_jupyter_server_gets_the_sliders(monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", "lesson.ipynb")  # what jupyter_server sets
    monkeypatch.delenv("AEKIT_FAST", raising=False)
    outputs = run(["from aekit.explorer import widgets_available\nprint(widgets_available())"])
    assert outputs[0][0]["text"].strip() == "True"


def test_the_front_end_rule_and_its_overrides(monkeypatch):
    for name in ("JPY_SESSION_NAME", "AEKIT_WIDGETS", "NBGRADER_EXECUTION", "AEKIT_FAST"):
        monkeypatch.delenv(name, raising=False)
    assert not _interactive_front_end(types.SimpleNamespace(user_ns={}))
    assert _interactive_front_end(types.SimpleNamespace(user_ns={"__vsc_ipynb_file__": "x"}))
    monkeypatch.setenv("JPY_SESSION_NAME", "lesson.ipynb")
    assert _interactive_front_end(types.SimpleNamespace(user_ns={}))
    assert not widgets_available()  # no kernel here: nothing could show a widget


def test_a_tiny_spread_of_codes_still_gives_nine_distinct_points_and_few_ticks():
    """A fast-mode run spreads its codes over thousandths: the figure says so legibly."""
    import matplotlib

    matplotlib.use("Agg")
    from test_plotting import decode

    codes = torch.randn(64, 2) * 4e-4 + torch.tensor([1.2345, -0.5])
    figure = explore_latent(codes, decode)
    titles = [axis.get_title() for axis in figure.axes[1:]]
    assert len(set(titles)) == 9, titles
    assert len(figure.axes[0].get_xticks()) <= 6


def test_the_decodes_titles_never_run_into_each_other():
    import matplotlib

    matplotlib.use("Agg")
    from test_plotting import decode

    for scale in ((4e-4, 4e-4), (5e-3, 1.5e-4), (1.0, 1.0)):  # the middle: a fast cardiac run
        figure = explore_latent(torch.randn(64, 2) * torch.tensor(scale), decode)
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        boxes = [axis.title.get_window_extent(renderer) for axis in figure.axes[1:]]
        for index, box in enumerate(boxes):
            for other in boxes[index + 1 :]:
                assert not box.overlaps(other), (scale, box, other)
