"""Hidden checks of ``mnist_autoencoders``: values against the reference, gradients,
statistics, structure and devices. Never shipped to students.

Judges that compare with the reference receive its observation of the same probe, computed
in the trusted process from the solutions in ``source/``. ``CHECKS`` lists every hidden check
in order: those written by hand below, the members of families with their data, and the
checks of the VAE pieces both assignments share (:mod:`autograder.hidden.vae`).
"""

from collections.abc import Callable

import torch
from torch import nn

from aekit.checks import mnist as public
from aekit.checks.compare import PASS, Verdict, expect_all_close, expect_close, fail
from aekit.checks.core import (
    Bench,
    Check,
    Mismatch,
    identified,
    linear_layers,
    module,
    pair,
    parameter_count,
    tensor,
)
from aekit.checks.families import family
from aekit.checks.fixtures import gradient_of, run_on_meta, seeded_autoencoder, seeded_vae
from aekit.checks.mnist import LinearChain
from autograder.hidden import vae
from autograder.hidden.families import (
    DecodesSample,
    HeadGradients,
    HiddenCheck,
    LossGradients,
    MatchesReference,
    ReferenceCheck,
    WeighsOnlyKl,
    encoder_and_decoder,
    heads_and_decoder,
    heads_swapped,
)

# --- make_encoder / make_decoder -----------------------------------------------------------


@family
class SameWeights(ReferenceCheck):
    """The model built with ``arguments``, its three Linear layers given seeded weights,
    computes what the reference's does; ``mistake(want)`` is the answer ``wrong`` names."""

    exercise: str
    title: str
    arguments: dict[str, int]
    built: str  # the call, for a Mismatch: "make_encoder(20, 3)"
    inputs: Callable[[Bench], torch.Tensor]
    what: str
    mistake: Callable[[torch.Tensor], torch.Tensor]
    wrong: str
    otherwise: str

    def probe(self, bench: Bench) -> dict:
        model = module(bench.get()(**self.arguments), self.built)
        x = self.inputs(bench)  # drawn before the weights
        layers = linear_layers(model)
        if len(layers) != 3:
            raise Mismatch(
                f"expected 3 Linear layers, found {len(layers)}; compare with the contract."
            )
        bench.fill_linear_layers(layers)
        with torch.no_grad():
            return {"output": tensor(model.to(bench.device)(x), "the output")}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        want = reference["output"]
        return expect_close(
            seen["output"],
            want,
            self.what,
            mistakes=[(self.mistake(want), self.wrong)],
            otherwise=self.otherwise,
        )


# --- reconstruction_loss ---------------------------------------------------------------------


def grey_images(bench: Bench) -> tuple:
    x = bench.uniform(5, 1, 28, 28, dtype=torch.float64)
    return bench.uniform(5, 1, 28, 28, low=0.02, high=0.98, dtype=torch.float64), x


class ReconstructionAnyShape(ReferenceCheck):
    exercise = "reconstruction_loss"
    title = "sums over every non-batch dimension, for any shape, with gradients to x_hat"

    def probe(self, bench: Bench) -> dict:
        seen = {}
        for name, shape in (("flat", (3, 784)), ("other", (3, 2, 5, 7))):
            x = bench.uniform(*shape, dtype=torch.float64)
            x_hat = bench.uniform(*shape, low=0.05, high=0.95, dtype=torch.float64).requires_grad_()
            loss = tensor(bench.get()(x_hat, x), "the loss")
            seen[name] = loss
            if name == "other":
                tensor(loss, "the loss").sum().backward()
                seen["grad"] = gradient_of(x_hat)
        return seen

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        verdict = expect_all_close(
            seen,
            reference,
            {
                "flat": "For inputs of shape (N, 784) the loss",
                "other": "For inputs of shape (N, 2, 5, 7) the loss",
            },
            otherwise="Sum over every dimension but the batch: x.reshape(len(x), -1).sum(1).",
        )
        if not verdict.passed:
            return verdict
        if seen["grad"].numel() == 0:
            return fail(
                "No gradient reaches x_hat: build the loss from x_hat with torch operations only."
            )
        return expect_close(seen["grad"], reference["grad"], "The gradient with respect to x_hat")


# --- autoencoder_forward ---------------------------------------------------------------------


class AutoencoderValues(ReferenceCheck):
    exercise = "autoencoder_forward"
    title = "matches the reference for (N, 1, 28, 28) and (N, 784) inputs"

    def probe(self, bench: Bench) -> dict:
        encoder, decoder = seeded_autoencoder(bench)
        seen = {}
        for name, shape in (("image", (4, 1, 28, 28)), ("flat", (4, 784))):
            loss, x_hat = pair(
                bench.get()(encoder, decoder, bench.uniform(*shape)), "autoencoder_forward"
            )
            seen[name + "_loss"], seen[name + "_x_hat"] = (
                tensor(loss, "the loss"),
                tensor(x_hat, "x_hat"),
            )
        return seen

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return expect_all_close(
            seen,
            reference,
            {
                "image_x_hat": "For image inputs, x_hat",
                "image_loss": "For image inputs, the loss",
                "flat_x_hat": "For flat inputs, x_hat",
                "flat_loss": "For flat inputs, the loss",
            },
            otherwise="Flatten x to (N, 784), encode, decode, reshape to x's shape.",
        )


# --- VAEEncoder ------------------------------------------------------------------------------


def encoder_parts(encoder: nn.Module) -> tuple[nn.Module, nn.Module, nn.Module]:
    parts = tuple(getattr(encoder, name, None) for name in ("trunk", "mu_head", "logvar_head"))
    if not all(isinstance(part, nn.Module) for part in parts):
        raise Mismatch(
            "VAEEncoder needs the attributes trunk, mu_head and logvar_head (nn.Modules)."
        )
    return parts


class VAEEncoderSharedTrunk(HiddenCheck):
    exercise = "VAEEncoder"
    title = "computes mu = mu_head(trunk(x)) and logvar = logvar_head(trunk(x))"

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(), "VAEEncoder()").to(bench.device)
        trunk, mu_head, logvar_head = encoder_parts(encoder)
        x = bench.randn(5, 784)
        with torch.no_grad():
            mu, logvar = pair(encoder(x), "VAEEncoder.forward")
            features = trunk(x)
            return {
                "mu": tensor(mu, "mu"),
                "logvar": tensor(logvar, "logvar"),
                "want_mu": mu_head(features),
                "want_logvar": logvar_head(features),
            }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        want = {name: seen[f"want_{name}"] for name in ("mu", "logvar")}
        swapped = heads_swapped(seen, want)
        if not swapped.passed:
            return swapped
        return expect_all_close(
            seen,
            want,
            {"mu": "mu", "logvar": "logvar"},
            otherwise={
                name: f"forward must return {name}_head(trunk(x)), both heads on the same trunk output."
                for name in ("mu", "logvar")
            },
        )


class VAEEncoderValues(ReferenceCheck):
    exercise = "VAEEncoder"
    title = "matches the reference for in_features = 20, latent_dim = 5 with the same weights"

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(in_features=20, latent_dim=5), "VAEEncoder(20, 5)")
        trunk, mu_head, logvar_head = encoder_parts(encoder)
        layers = linear_layers(trunk) + [mu_head, logvar_head]
        if [type(layer) for layer in layers] != [nn.Linear] * 4:
            raise Mismatch(
                "the trunk should hold two Linear layers and each head be one nn.Linear."
            )
        bench.fill_linear_layers(layers)
        with torch.no_grad():
            mu, logvar = pair(encoder.to(bench.device)(bench.randn(6, 20)), "VAEEncoder.forward")
        return {"mu": tensor(mu, "mu"), "logvar": tensor(logvar, "logvar")}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return expect_all_close(
            seen,
            reference,
            {"mu": "With the same weights, mu", "logvar": "With the same weights, logvar"},
            otherwise="The trunk is Linear → ReLU → Linear → ReLU; the heads add no activation.",
        )


class VAEEncoderParameters(HiddenCheck):
    exercise = "VAEEncoder"
    title = "has 108,996 parameters and a trunk that ends with a ReLU"

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(), "VAEEncoder()").to(bench.device)
        trunk, _, _ = encoder_parts(encoder)
        with torch.no_grad():
            features = tensor(trunk(bench.randn(8, 784, scale=3.0)), "trunk(x)")
        return {"parameters": parameter_count(encoder), "low": features.min().item()}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["parameters"] != 108_996:
            return fail(
                f"VAEEncoder() has {seen['parameters']:,} parameters, expected 108,996 "
                "(trunk 784 → 128 → 64, two heads 64 → 2)."
            )
        if seen["low"] < 0:
            return fail("The trunk's output has negative values: end the trunk with a ReLU.")
        return PASS


# --- vae_forward -----------------------------------------------------------------------------


def vae_pass(bench: Bench, beta: float, shape=(4, 1, 28, 28)) -> dict:
    encoder, decoder = seeded_vae(bench)
    x = bench.uniform(*shape)
    bench.reseed()
    loss, x_hat = pair(bench.get()(encoder, decoder, x, beta=beta), "vae_forward")
    return {"loss": tensor(loss, "the loss"), "x_hat": tensor(x_hat, "x_hat")}


class VaeValues(ReferenceCheck):
    exercise = "vae_forward"
    title = "matches the reference at beta = 1 (the negative ELBO), for images and flat inputs"

    def probe(self, bench: Bench) -> dict:
        image, flat = vae_pass(bench, 1.0), vae_pass(bench, 1.0, (4, 784))
        return {
            "image_loss": image["loss"],
            "image_x_hat": image["x_hat"],
            "flat_loss": flat["loss"],
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return expect_all_close(
            seen,
            reference,
            {
                "image_x_hat": "x_hat",
                "image_loss": "the loss",
                "flat_loss": "for flat inputs, the loss",
            },
            otherwise="Flatten x, encode to (mu, logvar), z = reparameterize(mu, logvar), decode, reshape.",
        )


def wide_vae(bench: Bench) -> tuple:
    """A seeded VAE whose posteriors are wide (a sample is far from mu), and images."""
    encoder, decoder = seeded_vae(bench)
    with torch.no_grad():
        encoder.logvar_head.bias.fill_(1.0)
    return encoder, decoder, bench.uniform(4, 1, 28, 28)


# --- interpolate -----------------------------------------------------------------------------


class InterpolateValues(ReferenceCheck):
    exercise = "interpolate"
    title = "is evenly spaced and keeps dtype and device"

    def probe(self, bench: Bench) -> dict:
        start, end = bench.randn(4, dtype=torch.float64), bench.randn(4, dtype=torch.float64)
        path = tensor(bench.get()(start, end, 7), "the path")
        device = run_on_meta(
            lambda a, b: bench.get()(a, b, 3),
            lambda device: (torch.zeros(2, device=device), torch.ones(2, device=device)),
            "the path",
        )
        return {"path": path, "dtype": str(path.dtype), "device": device}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["dtype"] != "torch.float64":
            return fail(
                f"For float64 inputs the path is {seen['dtype']}: create the weights with dtype=z_start.dtype."
            )
        verdict = expect_close(
            seen["path"],
            reference["path"],
            "For 7 steps the path",
            otherwise="Row i is z_start + i / (steps - 1) · (z_end - z_start).",
        )
        if not verdict.passed:
            return verdict
        if seen["device"]["device"] != seen["device"]["inputs"]:
            return fail(
                "The path is not on the inputs' device: pass device=z_start.device to torch.linspace."
            )
        return PASS


CHECKS: list[Check] = identified(
    {
        "encoder-other-sizes": LinearChain(
            exercise="make_encoder",
            title="follows in_features and latent_dim (20 → 128 → 64 → 3)",
            arguments={"in_features": 20, "latent_dim": 3},
            built="make_encoder(20, 3)",
            sizes=(20, 128, 64, 3),
            hidden=True,
        ),
        "encoder-values": SameWeights(
            exercise="make_encoder",
            title="computes Linear → ReLU → Linear → ReLU → Linear, as the reference does",
            arguments={"in_features": 20, "latent_dim": 3},
            built="make_encoder(20, 3)",
            inputs=lambda bench: bench.randn(6, 20),
            what="With the same weights, the code",
            mistake=torch.relu,
            wrong="the last layer must have no activation; remove the final ReLU.",
            otherwise="Put a ReLU after the first two Linear layers, nothing else.",
        ),
        "decoder-other-sizes": LinearChain(
            exercise="make_decoder",
            title="follows out_features and latent_dim (3 → 64 → 128 → 20)",
            arguments={"out_features": 20, "latent_dim": 3},
            built="make_decoder(20, 3)",
            sizes=(3, 64, 128, 20),
            hidden=True,
        ),
        "decoder-values": SameWeights(
            exercise="make_decoder",
            title="computes Linear → ReLU → Linear → ReLU → Linear → Sigmoid, as the reference does",
            arguments={"out_features": 20, "latent_dim": 3},
            built="make_decoder(20, 3)",
            inputs=lambda bench: bench.randn(6, 3, scale=2.0),
            what="With the same weights, the output",
            mistake=torch.logit,
            wrong="the final Sigmoid is missing.",
            otherwise="Put a ReLU after the first two Linear layers and a Sigmoid after the last.",
        ),
        "bce-values": MatchesReference(
            exercise="reconstruction_loss",
            title="matches the summed binary cross-entropy on grey-level images (float64)",
            inputs=grey_images,
            result="the loss",
            what="On random images the loss",
            mistakes=lambda inputs, want: [
                (want / 784, "you averaged over the pixels; sum them."),
                (-want, "the sign is flipped: the loss is a negative log-likelihood, ≥ 0."),
            ],
            otherwise="Check the formula: -[x log x̂ + (1 - x) log(1 - x̂)], summed over pixels.",
        ),
        "bce-any-shape": ReconstructionAnyShape(),
        "ae-values": AutoencoderValues(),
        "ae-gradients": LossGradients(
            exercise="autoencoder_forward",
            title="sends gradients to both the encoder and the decoder",
            fixtures=seeded_autoencoder,
            inputs=lambda bench: bench.uniform(4, 1, 28, 28),
            parts=encoder_and_decoder,
            missing="No gradient reaches the {part}: compute the loss from x_hat without "
            ".detach(), torch.no_grad() or a detour through NumPy.",
        ),
        "vae-encoder-shared-trunk": VAEEncoderSharedTrunk(),
        "vae-encoder-trunk-gradients": HeadGradients(
            exercise="VAEEncoder",
            title="both heads send gradients into the shared trunk",
            arguments={},
            built="VAEEncoder()",
            shared=lambda encoder: encoder_parts(encoder)[0],
            inputs=lambda bench: bench.randn(5, 784),
            missing="{part} sends no gradient into the trunk: compute it from self.trunk(x).",
        ),
        "vae-encoder-values": VAEEncoderValues(),
        "vae-encoder-parameters": VAEEncoderParameters(),
        "vae-values": VaeValues(),
        "vae-beta": WeighsOnlyKl(
            exercise="vae_forward",
            loss=lambda bench, beta: vae_pass(bench, beta)["loss"],
            betas=(0, 1, 4),
            otherwise="loss = (reconstruction_loss + beta * kl_divergence).mean(): beta "
            "multiplies the KL only.",
        ),
        "vae-decodes-sample": DecodesSample(
            exercise="vae_forward",
            setup=wide_vae,
            decode_mean=lambda encoder, decoder, x: decoder(encoder(x.reshape(4, -1))[0]).reshape(
                x.shape
            ),
            output="x_hat",
            of_mean="x_hat is the decode of mu: decode z = reparameterize(mu, logvar) while "
            "training.",
            repeated="Two passes gave the same x_hat: sample z at every call.",
        ),
        "vae-gradients": LossGradients(
            exercise="vae_forward",
            title="sends gradients to both encoder heads and to the decoder",
            fixtures=seeded_vae,
            inputs=lambda bench: bench.uniform(4, 1, 28, 28),
            parts=heads_and_decoder,
            missing="No gradient reaches the {part}: do not detach mu, logvar or z.",
        ),
        "interp-values": InterpolateValues(),
    },
    vae.TABLE,
    beside=public.CHECKS,
)
