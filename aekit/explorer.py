"""The interactive latent explorer: move a point in the 2-D latent plane, see what it decodes to.

Two sliders place the point over the scatter of encoded data; the decoder's output is drawn
beside it. Wherever no one can move a slider (a script, a headless run by nbclient, nbconvert,
nbgrader or ``make notebooks``, fast mode) the explorer draws a static figure instead: the
scatter with a 3 × 3 grid of points and their decodes, which an HTML export shows too.

Headless runs must not get widgets at all: widget messages can leave nbclient waiting forever
on a cell whose kernel is idle (jupyter/nbclient#312, jupyter/nbconvert#2029), which is how a
cardiac run once sat in this cell until it was killed.
"""

import math
from collections.abc import Callable

import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import MaxNLocator

from aekit.plotting import CARDIAC_CMAP, plot_latent
from aekit.runtime import widgets_available


def explore_latent(
    codes: torch.Tensor,
    decode: Callable[[torch.Tensor], torch.Tensor],
    labels: torch.Tensor | None = None,
    segmentation: bool = False,
    axis_labels: tuple[str, str] = ("z₁", "z₂"),
):
    """Explore a 2-D latent plane. ``codes`` (N, 2); ``decode`` maps (B, 2) to images (B, H, W)
    in [0, 1], or to label maps when ``segmentation`` is true. ``axis_labels`` name the plane's
    axes (the principal axes of wider codes, say)."""
    codes = codes.detach().cpu()
    low, high = codes.min(dim=0).values, codes.max(dim=0).values
    draw = _interactive if widgets_available() else _static
    return draw(codes, decode, labels, segmentation, low, high, axis_labels)


def _digits(low: torch.Tensor, high: torch.Tensor) -> int:
    """Decimals that tell the grid's points apart (a tiny fast-mode run spreads its codes over
    thousandths)."""
    spread = float((high - low).min().clamp(min=1e-6))
    return max(2, math.ceil(-math.log10(spread)) + 1)


def _draw_decode(axis, decode, point: torch.Tensor, segmentation: bool, digits: int = 2) -> None:
    with torch.no_grad():
        output = decode(point.reshape(1, 2).float())
    picture = output.reshape(len(output), *output.shape[-2:])[0].detach().cpu()
    if segmentation:
        axis.imshow(picture.numpy(), cmap=CARDIAC_CMAP, vmin=0, vmax=3, interpolation="nearest")
    else:
        axis.imshow(picture.float().numpy(), cmap="gray", vmin=0, vmax=1)
    title = f"z = ({point[0]:.{digits}f}, {point[1]:.{digits}f})"
    axis.set_title(title, fontsize=9 if digits <= 2 else 7)  # longer numbers, smaller type
    axis.axis("off")


def _interactive(codes, decode, labels, segmentation, low, high, axis_labels):
    import ipywidgets as widgets
    from IPython.display import display

    sliders = {
        f"z{axis + 1}": widgets.FloatSlider(
            value=float(codes[:, axis].median()),
            min=float(low[axis]),
            max=float(high[axis]),
            step=float(high[axis] - low[axis]) / 200,
            description=axis_labels[axis],
            continuous_update=True,
        )
        for axis in range(2)
    }

    def draw(z1: float, z2: float) -> None:
        figure, (left, right) = plt.subplots(1, 2, figsize=(9, 4.2))
        plot_latent(codes, labels, axis=left, axis_labels=axis_labels)
        left.plot([z1], [z2], marker="*", color="black", markersize=16)
        _draw_decode(right, decode, torch.tensor([z1, z2]), segmentation)
        plt.show()

    output = widgets.interactive_output(draw, sliders)
    display(widgets.VBox([widgets.HBox(list(sliders.values())), output]))


def _static(codes, decode, labels, segmentation, low, high, axis_labels):
    figure = plt.figure(figsize=(10, 4.5))
    left = figure.add_subplot(1, 2, 1)
    plot_latent(codes, labels, axis=left, axis_labels=axis_labels)
    grid = torch.stack(
        torch.meshgrid(
            torch.linspace(float(low[0]), float(high[0]), 5)[1:-1],
            torch.linspace(float(high[1]), float(low[1]), 5)[1:-1],
            indexing="xy",
        ),
        dim=-1,
    ).reshape(-1, 2)
    left.scatter(grid[:, 0], grid[:, 1], marker="*", color="black", s=80)
    left.xaxis.set_major_locator(MaxNLocator(4))  # long tick labels must not run together
    digits = _digits(low, high)
    for index, point in enumerate(grid):
        axis = figure.add_subplot(3, 6, 4 + (index // 3) * 6 + index % 3)
        _draw_decode(axis, decode, point, segmentation, digits)
    figure.suptitle("latent map and the decodes of the starred points")
    figure.tight_layout()
    return figure
