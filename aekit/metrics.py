"""Numbers that say how good a trained model is (reconstruction error, the PCA baseline), and
the soft Dice loss that teaches a segmentation model its small structures.

The negative ELBO needs no helper of its own: :func:`aekit.training.evaluate` with the
student's ``vae_forward`` at beta = 1 gives it in nats per image.
"""

from collections.abc import Callable

import torch
from torch.nn import functional as F


@torch.no_grad()
def reconstruction_mse(
    reconstruct: Callable[[torch.Tensor], torch.Tensor],
    data: torch.Tensor,
    batch_size: int = 1000,
) -> float:
    """Mean squared error per pixel between ``data`` and ``reconstruct(data)``.

    ``reconstruct`` maps a batch to a batch of the same shape (encode then decode; for a VAE,
    decode the mean, so the figure does not depend on the noise).
    """
    total = 0.0
    for start in range(0, len(data), batch_size):
        batch = data[start : start + batch_size]
        total += (reconstruct(batch).reshape(batch.shape) - batch).pow(2).sum().item()
    return total / data.numel()


@torch.no_grad()
def fit_pca(data: torch.Tensor, components: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and the top ``components`` principal axes (components, D) of flattened data."""
    flat = data.reshape(len(data), -1).to(torch.float32)
    mean = flat.mean(dim=0)
    centred = flat - mean
    # The D × D covariance in float32 (several times faster than float64 on a CPU, and exact
    # enough for a baseline), its eigendecomposition in float64.
    covariance = (centred.T @ centred / (len(flat) - 1)).to(torch.float64)
    mean = mean.to(torch.float64)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending order
    axes = eigenvectors[:, eigenvalues.argsort(descending=True)[:components]].T
    return mean, axes


@torch.no_grad()
def pca_reconstruction_mse(train: torch.Tensor, test: torch.Tensor, components: int) -> float:
    """The PCA baseline: per-pixel MSE on ``test`` of a ``components``-D PCA fitted on ``train``.

    A trained autoencoder with a latent of the same width should beat it (MNIST: 0.0557 at 2-D,
    0.0168 at 32-D).
    """
    mean, axes = fit_pca(train, components)
    flat = test.reshape(len(test), -1).to(torch.float64) - mean
    reconstructed = (flat @ axes.T) @ axes
    return (reconstructed - flat).pow(2).mean().item()


def soft_dice_loss(logits: torch.Tensor, labels: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 − the mean soft Dice over maps and foreground classes: a differentiable loss in [0, 1].

    ``logits`` (N, C, H, W), ``labels`` (N, H, W) int64 in 0 … C - 1; class 0 (background) is
    left out. The softmax probabilities stand in for the predicted masks. Each map's Dice is
    taken on its own, so the small RV of an apical slice weighs as much as the large RV of a
    basal slice in the same batch; ``smooth`` (in pixels) makes a class absent from a map score
    about 1 when the map predicts none of it, and less for every pixel it does predict. A
    cross-entropy summed over pixels weighs a structure by its area; this loss weighs every
    structure alike, so a thin RV crescent counts as much as the LV cavity.
    """
    if logits.ndim != 4 or labels.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(
            f"expected logits (N, C, H, W) and labels (N, H, W), got {tuple(logits.shape)} "
            f"and {tuple(labels.shape)}"
        )
    probabilities = logits.softmax(dim=1)[:, 1:]
    targets = F.one_hot(labels, logits.shape[1]).permute(0, 3, 1, 2)[:, 1:]
    targets = targets.to(probabilities.dtype)
    overlap = (probabilities * targets).sum(dim=(2, 3))
    sizes = probabilities.sum(dim=(2, 3)) + targets.sum(dim=(2, 3))
    return 1 - ((2 * overlap + smooth) / (sizes + smooth)).mean()
