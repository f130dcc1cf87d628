"""Figures and the latent explorer draw without a display; the explorer falls back to a static
figure where widgets cannot render."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from aekit.explorer import explore_latent, widgets_available  # noqa: E402
from aekit.plotting import (  # noqa: E402
    CARDIAC_CMAP,
    CARDIAC_LABELS,
    plot_history,
    plot_latent,
    show_images,
    show_manifold,
    show_reconstructions,
    show_rows,
    show_segmentations,
)
from aekit.training import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    """Each test's figures are closed after it, as a notebook's are when its cell ends."""
    yield
    plt.close("all")


def decode(z: torch.Tensor) -> torch.Tensor:
    """A stand-in decoder: a 28 × 28 blob whose position follows z."""
    grid = torch.linspace(-3, 3, 28)
    y, x = torch.meshgrid(grid, grid, indexing="ij")
    return torch.exp(-((x - z[:, :1, None]) ** 2 + (y - z[:, 1:, None]) ** 2))


def test_outside_a_kernel_the_explorer_draws_a_static_figure():
    assert not widgets_available()
    codes = torch.randn(200, 2)
    figure = explore_latent(codes, decode, labels=torch.arange(200) % 10)
    assert len(figure.axes) == 1 + 9  # the map and nine decodes


def test_the_mnist_figures_draw():
    images = torch.rand(12, 1, 28, 28)
    assert len(show_images(images, titles=list(range(12)), columns=6).axes) == 12
    assert len(show_reconstructions(images[:5], images[:5]).axes) == 10
    assert plot_latent(torch.randn(50, 2), torch.arange(50) % 3).axes[0].get_legend() is not None
    assert show_manifold(decode, steps=5).axes[0].get_images()
    history = History(train_loss=[3.0, 2.0], val_loss=[3.5, 2.5], seconds=[1.0, 1.0], fast=True)
    assert "fast mode" in plot_history(history).axes[0].get_title()


def test_segmentations_use_the_fixed_colours_and_a_legend():
    maps = torch.randint(0, 4, (3, 16, 16))
    figure = show_segmentations(maps, images=torch.rand(3, 16, 16), titles=["a", "b", "c"])
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == list(CARDIAC_LABELS)


def drawn_text(axis, figure, text: str):
    """The window extent of the title ``text`` of ``axis`` (any of its three title slots)."""
    figure.canvas.draw()
    found = [c for c in axis.get_children() if isinstance(c, Text) and c.get_text() == text]
    assert found, f"no title {text!r}"
    return found[0].get_window_extent(figure.canvas.get_renderer())


def test_both_row_titles_of_the_reconstructions_are_clear_of_the_images():
    images = torch.rand(6, 1, 28, 28)
    figure = show_reconstructions(images, images.flip(0), count=6)
    top_row, bottom_row = figure.axes[:6], figure.axes[6:]
    renderer = figure.canvas.get_renderer()
    lower_title = drawn_text(bottom_row[0], figure, "reconstruction")
    for axis in top_row + bottom_row:
        assert not lower_title.overlaps(axis.get_window_extent(renderer))
    upper_title = drawn_text(top_row[0], figure, "data")
    for axis in top_row:
        assert not upper_title.overlaps(axis.get_window_extent(renderer))
    assert figure.bbox.contains(upper_title.x0, upper_title.y1)


def test_the_loss_curve_names_its_unit_and_can_use_a_log_scale():
    history = History(train_loss=[900.0, 60.0, 50.0], val_loss=[100.0, 55.0, 48.0])
    linear = plot_history(history, ylabel="BCE (nats per image)").axes[0]
    assert linear.get_ylabel() == "BCE (nats per image)"
    assert linear.get_yscale() == "linear"
    assert all(float(tick).is_integer() for tick in linear.get_xticks())  # whole epochs
    log = plot_history(history, log_scale=True)
    assert log.axes[0].get_yscale() == "log"
    log.canvas.draw()
    labels = [label.get_text() for label in log.axes[0].get_yticklabels(which="both")]
    assert any(labels) and not any("10^" in label for label in labels)  # 600, not 6 × 10²


def test_latent_axes_are_named_z_unless_the_points_are_something_else():
    points = torch.randn(30, 2)
    codes = plot_latent(points).axes[0]
    assert (codes.get_xlabel(), codes.get_ylabel()) == ("z₁", "z₂")
    plane = plot_latent(points, axis_labels=("PC 1", "PC 2")).axes[0]
    assert (plane.get_xlabel(), plane.get_ylabel()) == ("PC 1", "PC 2")


def test_show_rows_draws_one_titled_row_per_entry_in_the_fixed_colours():
    rows = {"ground truth": torch.randint(0, 4, (5, 16, 16)), "repaired": torch.zeros(3, 16, 16)}
    figure = show_rows(rows, columns=4)
    grid = [figure.axes[row * 4 : (row + 1) * 4] for row in range(2)]
    assert [line[0].get_title(loc="left") for line in grid] == list(rows)
    # Each row shows its first `columns` maps and leaves the columns it has no map for empty.
    assert [sum(bool(axis.get_images()) for axis in line) for line in grid] == [4, 3]
    drawn = grid[0][0].get_images()[0]
    assert drawn.get_cmap() is CARDIAC_CMAP and drawn.get_clim() == (0, 3)
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == list(CARDIAC_LABELS)


def test_every_row_title_of_show_rows_is_clear_of_the_maps_above():
    names = ["ground truth", "corrupted", "plain VAE", "fine-tuned"]  # the notebook's tallest
    figure = show_rows({name: torch.randint(0, 4, (8, 32, 32)) for name in names})
    renderer = figure.canvas.get_renderer()
    for row in range(1, len(names)):
        title = drawn_text(figure.axes[row * 8], figure, names[row])
        for above in figure.axes[(row - 1) * 8 : row * 8]:
            assert not title.overlaps(above.get_window_extent(renderer)), names[row]
