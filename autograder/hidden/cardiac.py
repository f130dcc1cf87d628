"""Hidden checks of ``cardiac_autoencoders`` (written with the cardiac notebook)."""

from aekit.checks.core import Check
from autograder.hidden.mnist import (
    KlGradientsAndDevice,
    KlMonteCarlo,
    KlValues,
    ReparameterizeExactForm,
    ReparameterizeFreshNoise,
    ReparameterizeGradients,
    ReparameterizeShapes,
)

CHECKS: list[Check] = [
    ReparameterizeFreshNoise(),
    ReparameterizeExactForm(),
    ReparameterizeGradients(),
    ReparameterizeShapes(),
    KlValues(),
    KlMonteCarlo(),
    KlGradientsAndDevice(),
]
