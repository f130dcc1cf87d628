"""Public checks of the ``cardiac_autoencoders`` exercises (written with the cardiac notebook)."""

from aekit.checks.core import Check
from aekit.checks.mnist import (
    KlAtPrior,
    KlKnownValues,
    KlShape,
    ReparameterizeDevice,
    ReparameterizeMoments,
)

CHECKS: list[Check] = [
    ReparameterizeDevice(),
    ReparameterizeMoments(),
    KlShape(),
    KlAtPrior(),
    KlKnownValues(),
]
