"""Figures and the latent explorer draw without a display; the explorer falls back to a static
figure where widgets cannot render."""

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from aekit.explorer import explore_latent, widgets_available  # noqa: E402
from aekit.plotting import (  # noqa: E402
    CARDIAC_LABELS,
    plot_history,
    plot_latent,
    show_images,
    show_manifold,
    show_reconstructions,
    show_segmentations,
)
from aekit.training import History  # noqa: E402


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
