"""Small seeded models and helpers the probes feed to the student's composite functions.

A forward-pass exercise receives its encoder and decoder as arguments, so the checks pass
these instead of the student's own models: a mistake in ``make_encoder`` then costs nothing in
``vae_forward``.
"""

import contextlib

import torch
from torch import nn

from aekit.checks.core import Bench, linear_layers


class TwoHeadEncoder(nn.Module):
    """A tiny VAE encoder: Linear → ReLU, then separate mu and logvar heads."""

    def __init__(self, in_features: int, hidden: int, latent_dim: int):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU())
        self.mu_head = nn.Linear(hidden, latent_dim)
        self.logvar_head = nn.Linear(hidden, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.trunk(x)
        return self.mu_head(hidden), self.logvar_head(hidden)


def seeded_autoencoder(bench: Bench, in_features: int = 784, latent_dim: int = 8):
    """(encoder, decoder): Linear(in, latent) and Linear(latent, in) → Sigmoid, seeded."""
    encoder = nn.Sequential(nn.Linear(in_features, latent_dim))
    decoder = nn.Sequential(nn.Linear(latent_dim, in_features), nn.Sigmoid())
    for model in (encoder, decoder):
        model.to(bench.device)
        bench.fill_linear_layers(linear_layers(model), 0.1)
    return encoder, decoder


def seeded_vae(bench: Bench, in_features: int = 784, latent_dim: int = 3):
    """(encoder, decoder) for VAE forward passes: a :class:`TwoHeadEncoder` and a decoder."""
    encoder = TwoHeadEncoder(in_features, 16, latent_dim).to(bench.device)
    decoder = nn.Sequential(nn.Linear(latent_dim, in_features), nn.Sigmoid()).to(bench.device)
    bench.fill_linear_layers(linear_layers(encoder), 0.1)
    bench.fill_linear_layers([decoder[0]], 0.5)
    return encoder, decoder


def gradient_norms(model: nn.Module) -> float:
    """Sum of the parameter gradients' norms (0.0 when no gradient arrived)."""
    return float(sum(p.grad.norm() for p in model.parameters() if p.grad is not None))


def gradient_of(value: torch.Tensor) -> torch.Tensor:
    """The gradient ``value`` received, or an empty tensor where none arrived."""
    return value.grad if value.grad is not None else torch.zeros(0)


@contextlib.contextmanager
def meta_device():
    """Run code on the meta device, where mixing in a CPU tensor fails as it would on a GPU.

    torch.distributions validates its arguments with ``.item()``, which the meta device
    cannot answer; correct code written with distributions must pass, so validation is off.
    """
    previous = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(False)
    try:
        yield torch.device("meta")
    finally:
        torch.distributions.Distribution.set_default_validate_args(previous)


def device_report(value, what: str) -> dict:
    """Shape, dtype and device of a (meta) tensor, which cannot be observed by value."""
    from aekit.checks.core import tensor

    value = tensor(value, what)
    return {"shape": list(value.shape), "dtype": str(value.dtype), "device": value.device.type}


DEVICE_ADVICE = (
    "On a GPU runner this code would mix devices: it creates a tensor on the CPU while the "
    "inputs live elsewhere. Create new tensors from the inputs (torch.randn_like(mu), "
    "torch.zeros_like(x)) or pass device=mu.device, dtype=mu.dtype."
)
_DEVICE_MIX = ("expected device", "is not on the expected device", "two devices", "same device")


def run_on_meta(function, make_inputs, what: str) -> dict:
    """Call ``function(*make_inputs(device))`` on the meta device and report the result's
    shape, dtype and device.

    A device mix-up becomes a :class:`Mismatch` that teaches. An operation the meta device
    cannot run (``.item()``, a missing meta kernel) says nothing about GPUs, so the call is
    repeated on the CPU instead.
    """
    from aekit.checks.core import Mismatch, Raised

    with meta_device() as meta:
        try:
            return device_report(function(*make_inputs(meta)), what) | {"inputs": "meta"}
        except (RuntimeError, NotImplementedError, Raised) as error:
            kind = type(error).__name__
            if isinstance(error, Raised):  # raised in the sandbox: its type travels by name
                kind = error.details.get("type", "")
                if not {"RuntimeError", "NotImplementedError"} & set(
                    error.details.get("family", "").split(",")
                ):
                    raise
            text = " ".join(str(error).split())
            if any(marker in text for marker in _DEVICE_MIX):
                raise Mismatch(f"{DEVICE_ADVICE} ({kind}: {text[:200]})") from None
            if "meta" not in text.lower():
                raise
    return device_report(function(*make_inputs(torch.device("cpu"))), what) | {"inputs": "cpu"}
