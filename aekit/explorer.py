"""The interactive latent explorer: move a point in the 2-D latent plane, see what it decodes to.

Two sliders place the point over the scatter of encoded data; the decoder's output is drawn
beside it. Where widgets cannot render (a script, nbgrader's execution, fast mode) the
explorer draws a static figure instead: the scatter with a 3 × 3 grid of points and their
decodes.
"""

from collections.abc import Callable

import matplotlib.pyplot as plt
import torch

from aekit.plotting import CARDIAC_CMAP, plot_latent
from aekit.runtime import fast_mode


def widgets_available() -> bool:
    """True in a live Jupyter kernel with ipywidgets installed, outside fast mode."""
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel") and not fast_mode()


def explore_latent(
    codes: torch.Tensor,
    decode: Callable[[torch.Tensor], torch.Tensor],
    labels: torch.Tensor | None = None,
    segmentation: bool = False,
):
    """Explore a 2-D latent plane. ``codes`` (N, 2); ``decode`` maps (B, 2) to images (B, H, W)
    in [0, 1], or to label maps when ``segmentation`` is true."""
    codes = codes.detach().cpu()
    low, high = codes.min(dim=0).values, codes.max(dim=0).values
    if widgets_available():
        return _interactive(codes, decode, labels, segmentation, low, high)
    return _static(codes, decode, labels, segmentation, low, high)


def _draw_decode(axis, decode, point: torch.Tensor, segmentation: bool) -> None:
    with torch.no_grad():
        output = decode(point.reshape(1, 2).float())
    picture = output.reshape(len(output), *output.shape[-2:])[0].detach().cpu()
    if segmentation:
        axis.imshow(picture.numpy(), cmap=CARDIAC_CMAP, vmin=0, vmax=3, interpolation="nearest")
    else:
        axis.imshow(picture.float().numpy(), cmap="gray", vmin=0, vmax=1)
    axis.set_title(f"z = ({point[0]:.2f}, {point[1]:.2f})", fontsize=9)
    axis.axis("off")


def _interactive(codes, decode, labels, segmentation, low, high):
    import ipywidgets as widgets
    from IPython.display import display

    sliders = {
        f"z{axis + 1}": widgets.FloatSlider(
            value=float(codes[:, axis].median()),
            min=float(low[axis]),
            max=float(high[axis]),
            step=float(high[axis] - low[axis]) / 200,
            description=f"z{'₁₂'[axis]}",
            continuous_update=True,
        )
        for axis in range(2)
    }

    def draw(z1: float, z2: float) -> None:
        figure, (left, right) = plt.subplots(1, 2, figsize=(9, 4.2))
        plot_latent(codes, labels, axis=left)
        left.plot([z1], [z2], marker="*", color="black", markersize=16)
        _draw_decode(right, decode, torch.tensor([z1, z2]), segmentation)
        plt.show()

    output = widgets.interactive_output(draw, sliders)
    display(widgets.VBox([widgets.HBox(list(sliders.values())), output]))


def _static(codes, decode, labels, segmentation, low, high):
    figure = plt.figure(figsize=(10, 4.5))
    left = figure.add_subplot(1, 2, 1)
    plot_latent(codes, labels, axis=left)
    grid = torch.stack(
        torch.meshgrid(
            torch.linspace(float(low[0]), float(high[0]), 5)[1:-1],
            torch.linspace(float(high[1]), float(low[1]), 5)[1:-1],
            indexing="xy",
        ),
        dim=-1,
    ).reshape(-1, 2)
    left.scatter(grid[:, 0], grid[:, 1], marker="*", color="black", s=80)
    for index, point in enumerate(grid):
        axis = figure.add_subplot(3, 6, 4 + (index // 3) * 6 + index % 3)
        _draw_decode(axis, decode, point, segmentation)
    figure.suptitle("latent map and the decodes of the starred points")
    figure.tight_layout()
    return figure
