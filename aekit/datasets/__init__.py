"""Data sets the notebooks train on: MNIST and ACDC segmentation maps (real or phantoms)."""

from aekit.datasets.errors import DataError

__all__ = ["DataError"]
