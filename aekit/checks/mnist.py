"""Public checks of the ``mnist_autoencoders`` exercises.

Students run these from the notebook for instant feedback. They test the contract of
docs/contract.md through shapes, structure, identities, known values and consistency
with the student's own pieces; they need no reference solution. The autograder runs them too,
beside its hidden checks. ``CHECKS`` lists them in order: the checks written by hand below, the
members of families (:mod:`aekit.checks.families`) with their data, and the checks of the VAE
pieces that both assignments share (:mod:`aekit.checks.vae`).
"""

import math
from collections.abc import Callable

import torch
from torch import nn

from aekit.checks import vae
from aekit.checks.compare import PASS, Verdict, expect_close, fail
from aekit.checks.core import (
    Bench,
    Check,
    identified,
    linear_layers,
    module,
    pair,
    parameter_count,
    tensor,
)
from aekit.checks.families import KnownValue, PerSample, TwoHeads, family, shares_one_head
from aekit.checks.fixtures import seeded_autoencoder, seeded_vae

LN2 = math.log(2.0)


def layer_sizes(model) -> list[list[int]]:
    return [[layer.in_features, layer.out_features] for layer in linear_layers(model)]


def expect_layers(seen: dict, expected: list[list[int]], count: int, what: str) -> Verdict:
    if seen["layers"] != expected:
        arrows = " → ".join(str(size[0]) for size in expected) + f" → {expected[-1][1]}"
        found = ", ".join(f"{a}→{b}" for a, b in seen["layers"]) or "none"
        return fail(f"{what} should chain Linear layers {arrows}; found Linear layers {found}.")
    if seen["parameters"] != count:
        return fail(
            f"{what} has {seen['parameters']:,} parameters, expected {count:,}: "
            "only the Linear layers of the contract should hold parameters."
        )
    return PASS


# --- make_encoder / make_decoder -----------------------------------------------------------


class EncoderShape(Check):
    exercise = "make_encoder"
    title = "maps (N, 784) to (N, 32) with the default arguments"

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(), "make_encoder()").to(bench.device)
        output = tensor(encoder(bench.randn(5, 784)), "the encoder's output")
        return {"shape": list(output.shape), "negative": bool((output < 0).any())}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] != [5, 32]:
            return fail(
                f"A batch of 5 images of 784 pixels gave shape {tuple(seen['shape'])}, expected (5, 32)."
            )
        if not seen["negative"]:
            return fail(
                "Every latent value is ≥ 0: the encoder must end with the last Linear layer, "
                "no ReLU (or other activation) after it."
            )
        return PASS


@family
class LinearChain(Check):
    """The factory's model chains the Linear layers ``sizes[0] → sizes[1] → …`` and holds no
    other parameters."""

    exercise: str
    title: str
    arguments: dict[str, int]
    built: str  # the call, as the messages name it: "make_encoder()"
    sizes: tuple[int, ...]
    hidden: bool = False

    def probe(self, bench: Bench) -> dict:
        model = module(bench.get()(**self.arguments), self.built)
        return {"layers": layer_sizes(model), "parameters": parameter_count(model)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        layers = [[a, b] for a, b in zip(self.sizes, self.sizes[1:], strict=False)]
        count = sum(a * b + b for a, b in layers)
        return expect_layers(seen, layers, count, self.built)


class DecoderShape(Check):
    exercise = "make_decoder"
    title = "maps (N, 32) to (N, 784) with values in (0, 1)"

    def probe(self, bench: Bench) -> dict:
        decoder = module(bench.get()(), "make_decoder()").to(bench.device)
        output = tensor(decoder(bench.randn(5, 32, scale=3.0)), "the decoder's output")
        return {
            "shape": list(output.shape),
            "low": output.min().item(),
            "high": output.max().item(),
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] != [5, 784]:
            return fail(
                f"A batch of 5 codes of size 32 gave shape {tuple(seen['shape'])}, expected (5, 784)."
            )
        if not (seen["low"] >= 0.0 and seen["high"] <= 1.0):  # NaN fails too
            return fail(
                f"Outputs range over [{seen['low']:.3g}, {seen['high']:.3g}]: end the decoder with "
                "a Sigmoid so every pixel is a probability in (0, 1), as the BCE loss requires."
            )
        return PASS


# --- reconstruction_loss ---------------------------------------------------------------------


def half_predictions(bench: Bench) -> tuple:
    x = bench.uniform(3, 1, 28, 28)
    return torch.full_like(x, 0.5), x


def predictions(bench: Bench) -> tuple:
    x = bench.uniform(4, 1, 28, 28)
    return bench.uniform(4, 1, 28, 28, low=0.05, high=0.95), x


AT_HALF = torch.full((3,), 784 * LN2)


# --- autoencoder_forward ---------------------------------------------------------------------


@family
class ForwardOutputs(Check):
    """A forward pass on the seeded ``fixtures`` returns a scalar loss and x_hat with x's shape."""

    exercise: str
    fixtures: Callable[[Bench], tuple[nn.Module, nn.Module]]
    title: str = "returns a scalar loss and x_hat with x's shape"

    def probe(self, bench: Bench) -> dict:
        encoder, decoder = self.fixtures(bench)
        bench.reseed()
        x = bench.uniform(4, 1, 28, 28)
        loss, x_hat = pair(bench.get()(encoder, decoder, x), self.exercise)
        loss, x_hat = tensor(loss, "the loss"), tensor(x_hat, "x_hat")
        return {"loss_shape": list(loss.shape), "x_hat_shape": list(x_hat.shape)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["loss_shape"] != []:
            return fail(
                f"The loss has shape {tuple(seen['loss_shape'])}: it must be a scalar, the mean "
                "over the batch of the per-image losses."
            )
        if seen["x_hat_shape"] != [4, 1, 28, 28]:
            return fail(
                f"x_hat has shape {tuple(seen['x_hat_shape'])}, expected x's shape (4, 1, 28, 28): "
                "reshape the decoder's output back with x_hat.view(x.shape)."
            )
        return PASS


class AutoencoderLoss(Check):
    exercise = "autoencoder_forward"
    title = "loss is the batch mean of reconstruction_loss(x_hat, x)"

    def probe(self, bench: Bench) -> dict:
        encoder, decoder = seeded_autoencoder(bench)
        x = bench.uniform(4, 1, 28, 28)
        loss, x_hat = pair(bench.get()(encoder, decoder, x), "autoencoder_forward")
        per_image = tensor(
            bench.get("reconstruction_loss")(tensor(x_hat, "x_hat"), x), "reconstruction_loss"
        )
        return {"loss": tensor(loss, "the loss"), "per_image": per_image}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        expected = seen["per_image"].mean()
        return expect_close(
            seen["loss"],
            expected,
            "The loss",
            mistakes=[(seen["per_image"].sum(), "you summed over the batch; take the mean.")],
            otherwise="It should equal reconstruction_loss(x_hat, x).mean().",
        )


# --- VAEEncoder ------------------------------------------------------------------------------


class VAEEncoderParts(Check):
    exercise = "VAEEncoder"
    title = "has a trunk 784 → 128 → 64 and heads mu_head, logvar_head = Linear(64, 2)"

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(), "VAEEncoder()")
        parts = {}
        for name in ("trunk", "mu_head", "logvar_head"):
            part = getattr(encoder, name, None)
            parts[name] = layer_sizes(part) if isinstance(part, torch.nn.Module) else None
        parts["heads_are_linear"] = all(
            isinstance(getattr(encoder, name, None), torch.nn.Linear)
            for name in ("mu_head", "logvar_head")
        )
        parts["shared_head"] = shares_one_head(encoder)
        return parts

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        missing = [name for name in ("trunk", "mu_head", "logvar_head") if seen[name] is None]
        if missing:
            return fail(f"VAEEncoder() has no attribute {', '.join(missing)} (an nn.Module each).")
        if seen["trunk"] != [[784, 128], [128, 64]]:
            return fail(f"The trunk's Linear layers are {seen['trunk']}, expected 784 → 128 → 64.")
        if seen["shared_head"]:
            return fail(
                "mu_head and logvar_head are the same layer: give each its own nn.Linear(64, latent_dim)."
            )
        if (
            not seen["heads_are_linear"]
            or seen["mu_head"] != [[64, 2]]
            or seen["logvar_head"] != [[64, 2]]
        ):
            return fail(
                f"The heads are {seen['mu_head']} and {seen['logvar_head']}: each must be "
                "nn.Linear(64, latent_dim), latent_dim = 2 by default."
            )
        return PASS


# --- vae_forward -----------------------------------------------------------------------------


class VaeLossTerms(Check):
    exercise = "vae_forward"
    title = "loss is the batch mean of reconstruction_loss + beta · kl_divergence"

    def probe(self, bench: Bench) -> dict:
        encoder, decoder = seeded_vae(bench)
        x = bench.uniform(4, 1, 28, 28)
        bench.reseed()
        loss, x_hat = pair(bench.get()(encoder, decoder, x, beta=0.25), "vae_forward")
        with torch.no_grad():
            mu, logvar = encoder(x.reshape(4, -1))
        return {
            "loss": tensor(loss, "the loss"),
            "recon": tensor(
                bench.get("reconstruction_loss")(tensor(x_hat, "x_hat"), x), "reconstruction_loss"
            ),
            "kl": tensor(bench.get("kl_divergence")(mu, logvar), "kl_divergence"),
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        recon, kl = seen["recon"], seen["kl"]
        return expect_close(
            seen["loss"],
            (recon + 0.25 * kl).mean(),
            "With beta = 0.25 the loss",
            mistakes=vae.beta_mistakes(recon, kl, 0.25),
            otherwise="It should equal (reconstruction_loss(x_hat, x) + beta * kl_divergence(mu, logvar)).mean().",
        )


# --- interpolate -----------------------------------------------------------------------------


class InterpolateEnds(Check):
    exercise = "interpolate"
    title = "returns (steps, D) from z_start (first row) to z_end (last row)"

    def probe(self, bench: Bench) -> dict:
        start, end = bench.randn(3), bench.randn(3)
        path = tensor(bench.get()(start, end, 5), "the path")
        return {"path": path, "start": start, "end": end}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        path = seen["path"]
        if tuple(path.shape) != (5, 3):
            return fail(
                f"interpolate(z_start, z_end, 5) for D = 3 has shape {tuple(path.shape)}, expected (5, 3)."
            )
        if not torch.allclose(path[0], seen["start"]) or not torch.allclose(path[-1], seen["end"]):
            return fail("The first row must be z_start and the last row z_end (both included).")
        return PASS


CHECKS: list[Check] = identified(
    {
        "encoder-shape": EncoderShape(),
        "encoder-layers": LinearChain(
            exercise="make_encoder",
            title="chains Linear 784 → 128 → 64 → 32 (110,816 parameters)",
            arguments={},
            built="make_encoder()",
            sizes=(784, 128, 64, 32),
        ),
        "decoder-shape": DecoderShape(),
        "decoder-layers": LinearChain(
            exercise="make_decoder",
            title="chains Linear 32 → 64 → 128 → 784 (111,568 parameters)",
            arguments={},
            built="make_decoder()",
            sizes=(32, 64, 128, 784),
        ),
        "bce-per-sample": PerSample(
            exercise="reconstruction_loss",
            inputs=predictions,
            count=4,
            what="For 4 images the loss",
        ),
        "bce-at-half": KnownValue(
            exercise="reconstruction_loss",
            title="is 784 · ln 2 per image when every predicted pixel is 0.5",
            inputs=half_predictions,
            expected=AT_HALF,
            what="With x_hat = 0.5 the loss per image",
            result="the loss",
            mistakes=[
                (
                    AT_HALF / 784,
                    "you averaged over the pixels; sum over every non-batch dimension instead.",
                ),
                (
                    -AT_HALF,
                    "the sign is flipped: BCE is -[x log x̂ + (1 - x) log(1 - x̂)], which is ≥ 0.",
                ),
                (AT_HALF / LN2 * math.log10(2.0), "use the natural log (torch.log), not log10."),
                (AT_HALF / LN2, "use the natural log (torch.log), not log2."),
            ],
        ),
        "ae-outputs": ForwardOutputs(exercise="autoencoder_forward", fixtures=seeded_autoencoder),
        "ae-loss": AutoencoderLoss(),
        "vae-encoder-parts": VAEEncoderParts(),
        "vae-encoder-outputs": TwoHeads(
            exercise="VAEEncoder",
            title="returns (mu, logvar), both (N, 2), for a batch of flattened images",
            arguments={},
            built="VAEEncoder()",
            inputs=lambda bench: bench.randn(6, 784),
            shape=(6, 2),
            wrong_shape="For 6 images {name} has shape {found}, expected (6, 2).",
        ),
        "vae-outputs": ForwardOutputs(exercise="vae_forward", fixtures=seeded_vae),
        "vae-loss-terms": VaeLossTerms(),
        "interp-ends": InterpolateEnds(),
    },
    vae.TABLE,
)
