"""Figures the notebooks show: digits, reconstructions, losses, latent maps, segmentations.

Every function takes tensors on any device, draws with matplotlib and returns the figure, so a
notebook shows it and a script can save it.
"""

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch
from matplotlib.ticker import LogFormatter, MaxNLocator

# ACDC labels and the colours every cardiac figure uses for them.
CARDIAC_LABELS = ("background", "RV", "MYO", "LV")
CARDIAC_COLOURS = ("#000000", "#1f77b4", "#2ca02c", "#d62728")
CARDIAC_CMAP = ListedColormap(CARDIAC_COLOURS, name="acdc")


def _numpy(images: torch.Tensor) -> np.ndarray:
    return images.detach().to("cpu", torch.float32).numpy()


def show_images(
    images: torch.Tensor,
    titles: Sequence[str] | None = None,
    columns: int = 10,
    size: float = 1.2,
    suptitle: str | None = None,
):
    """A grid of grey-level images; ``images`` is (N, H, W) or (N, 1, H, W) in [0, 1]."""
    pictures = _numpy(images.reshape(len(images), *images.shape[-2:]))
    rows = max(1, -(-len(pictures) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(size * columns, size * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < len(pictures):
            axis.imshow(pictures[index], cmap="gray", vmin=0.0, vmax=1.0)
            if titles is not None:
                axis.set_title(str(titles[index]), fontsize=8)
    if suptitle:
        figure.suptitle(suptitle)
    figure.tight_layout()
    return figure


def show_reconstructions(originals: torch.Tensor, reconstructions: torch.Tensor, count: int = 10):
    """Originals on the top row, their reconstructions below (the tutorial's figure)."""
    pictures = torch.cat(
        [originals[:count].cpu(), reconstructions[:count].reshape(originals[:count].shape).cpu()]
    )
    figure = show_images(pictures, columns=min(count, len(originals)))
    figure.axes[0].set_title("data", fontsize=8, loc="left")
    figure.axes[min(count, len(originals))].set_title("reconstruction", fontsize=8, loc="left")
    # show_images laid the grid out without these titles: lay it out again, a little taller to
    # make room for them, or the lower one is drawn under the images of the top row.
    figure.set_figheight(figure.get_figheight() + 0.4)
    figure.tight_layout()
    return figure


def plot_history(
    history,
    title: str = "training",
    ylabel: str = "loss per sample",
    log_scale: bool = False,
):
    """Per-epoch training (and validation) loss of :func:`aekit.training.fit`.

    ``ylabel`` should say what the loss is and in which unit (e.g. "binary cross-entropy,
    nats per image"), which only the caller knows. ``log_scale`` suits a loss whose first epoch
    is many times the later ones (the cardiac VAE's, about 30 times its last), which on a
    linear axis flattens the rest of the curve.
    """
    figure, axis = plt.subplots(figsize=(5, 3))
    epochs = range(1, len(history.train_loss) + 1)
    axis.plot(epochs, history.train_loss, marker="o", label="train")
    if history.val_loss:
        axis.plot(epochs, history.val_loss, marker="o", label="validation")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.5
    if log_scale:
        axis.set_yscale("log")
        # Plain numbers (600, not 6 × 10²), on the minor ticks too when the curve spans less
        # than two decades, as a few epochs' losses do.
        axis.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
        axis.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.4)))
    axis.set(
        xlabel="epoch",
        ylabel=ylabel,
        title=title + (" (fast mode)" if history.fast else ""),
    )
    axis.legend()
    figure.tight_layout()
    return figure


def plot_latent(
    codes: torch.Tensor,
    labels: torch.Tensor | None = None,
    axis=None,
    title: str = "latent space",
    axis_labels: tuple[str, str] = ("z₁", "z₂"),
):
    """Scatter of 2-D points, coloured by label (digit, group or phase) when given.

    The points are codes of a 2-D latent space by default; name the axes with ``axis_labels``
    when they are something else, such as the principal axes of wider codes.
    """
    if axis is None:
        _, axis = plt.subplots(figsize=(5, 5))
    points = _numpy(codes)
    if labels is None:
        axis.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5)
    else:
        values = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
        for index, value in enumerate(sorted(set(values.tolist()), key=str)):
            chosen = values == value
            axis.scatter(
                points[chosen, 0],
                points[chosen, 1],
                s=2,
                alpha=0.6,
                color=f"C{index % 10}",
                label=str(value),
            )
        axis.legend(markerscale=5, fontsize=7, loc="best")
    axis.set(xlabel=axis_labels[0], ylabel=axis_labels[1], title=title)
    return axis.figure


def show_manifold(
    decode: Callable[[torch.Tensor], torch.Tensor], steps: int = 15, limit: float = 2.5
):
    """The classic 2-D manifold figure: decodes of a regular grid of latent points.

    The grid spans [-limit, limit]² in latent units, where the prior N(0, I) puts its mass.
    """
    values = torch.linspace(-limit, limit, steps)
    grid = torch.stack(torch.meshgrid(values, values.flip(0), indexing="xy"), dim=-1).reshape(-1, 2)
    with torch.no_grad():
        images = decode(grid)
    side = images.shape[-1] if images.dim() > 2 else int(images.shape[-1] ** 0.5)
    tiles = (
        _numpy(images.reshape(steps, steps, side, side))
        .transpose(0, 2, 1, 3)
        .reshape(steps * side, steps * side)
    )
    figure, axis = plt.subplots(figsize=(6, 6))
    axis.imshow(tiles, cmap="gray", extent=(-limit, limit, -limit, limit))
    axis.set(xlabel="z₁", ylabel="z₂", title="decoded latent grid")
    return figure


def show_segmentations(
    maps: torch.Tensor,
    images: torch.Tensor | None = None,
    titles: Sequence[str] | None = None,
    columns: int = 8,
    size: float = 1.6,
):
    """Label maps (N, H, W) in the fixed ACDC colours, under their MR images when given."""
    count = min(len(maps), columns)
    rows = 2 if images is not None else 1
    figure, axes = plt.subplots(
        rows, count, figsize=(size * count, size * rows + 0.4), squeeze=False
    )
    for index in range(count):
        if images is not None:
            axes[0, index].imshow(_numpy(images[index]), cmap="gray")
        _show_map(axes[-1, index], maps[index])
        if titles is not None:
            axes[0, index].set_title(str(titles[index]), fontsize=7)
    for axis in axes.flat:
        axis.axis("off")
    add_label_legend(figure)
    return figure


def show_rows(rows: dict[str, torch.Tensor], columns: int = 8):
    """One row of label maps per entry of ``rows`` (title → maps (N, H, W)), in the ACDC colours.

    The rows line up column by column, so a walk through the latent space or a map beside its
    corrupted and repaired versions reads straight down; each row shows its first ``columns``
    maps.
    """
    figure, axes = plt.subplots(
        len(rows), columns, figsize=(1.6 * columns, 1.9 * len(rows) + 0.5), squeeze=False
    )
    for line, (title, maps) in zip(axes, rows.items(), strict=True):
        for axis, one in zip(line, maps[:columns], strict=False):
            _show_map(axis, one)
        line[0].set_title(title, loc="left", fontsize=9)
    for axis in axes.flat:
        axis.axis("off")
    add_label_legend(figure)
    return figure


def _show_map(axis, labels: torch.Tensor) -> None:
    """One label map (H, W) in the fixed ACDC colours, without smoothing between labels."""
    axis.imshow(labels.cpu().numpy(), cmap=CARDIAC_CMAP, vmin=0, vmax=3, interpolation="nearest")


def add_label_legend(figure) -> None:
    """The four ACDC labels with their colours, under the figure."""
    handles = [
        Patch(color=colour, label=name)
        for name, colour in zip(CARDIAC_LABELS, CARDIAC_COLOURS, strict=True)
    ]
    figure.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
